"""``emox app`` in a real browser: the command serves a tiny trained model on loopback, headless Chromium (driven by
selenium) uploads generated clips, asks MER and ERG, and reads what the page shows. Expected answers and gate
weights come from the library answering the same question in this process (the page must show exactly that),
the layer pairs from the saved config. A screenshot is saved as a test artifact.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``app`` extra (gradio, selenium). Without them the
test skips, except where ``EMOX_REQUIRE_BROWSER=1`` (``.ci/run`` sets it): there it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from emox_core.modeling.configuration import NanoEmoXConfig
from tests.conftest import REPO_ROOT
from tests.inference.conftest import TRAINED_SUBTITLE, subprocess_env

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1700",
                  # a synthetic camera (test pattern) and microphone (beeps), granted without a prompt
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
ERG_QUESTION = {"subtitle": TRAINED_SUBTITLE, "context": "a birthday",
                "history": "speaker: I got a parcel today.\nlistener: Oh really? Who sent it?"}
WAIT_SECONDS = 120


def _unavailable(reason: str) -> None:
    if os.environ.get("EMOX_REQUIRE_BROWSER") == "1":
        pytest.fail(f"EMOX_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    for module in ("selenium", "gradio"):
        try:
            __import__(module)
        except ImportError:
            _unavailable(f"{module} is not installed (pip install -e '.[dev,app]')")
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        _unavailable("no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="emox-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the page's server keeps uploaded and recorded clips (GRADIO_TEMP_DIR)."""
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def served(browser: Any, trained_model_dir: Path, uploads: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """``emox app --model DIR --port N`` as a user starts it; its URL once it answers."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "server.log"
    env = {**subprocess_env(), "PYTHONPATH": str(REPO_ROOT), "GRADIO_TEMP_DIR": str(uploads)}
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, "-m", "emox_cli.main", "app", "--model", str(trained_model_dir),
                                   "--port", str(port), "--device", "cpu"], stdout=handle, stderr=subprocess.STDOUT,
                                  env=env, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while "emox app: serving" not in log.read_text():
            assert server.poll() is None, f"emox app exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"emox app did not start: {log.read_text()}"
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _open(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip input[type=file]"))


def _ask(driver: Any, clip: Path | None, task: str, **fields: str) -> str:
    """Upload ``clip`` (None: keep the one on the page), choose ``task``, fill the text fields, press Answer;
    the final status line."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if clip is not None:
        driver.find_element(By.CSS_SELECTOR, "#clip input[type=file]").send_keys(str(clip))
        WebDriverWait(driver, WAIT_SECONDS).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip video"))
    driver.find_element(By.CSS_SELECTOR, f'#task label[data-testid="{task}-radio-label"]').click()
    for name, text in fields.items():
        box = WebDriverWait(driver, WAIT_SECONDS).until(
            lambda d, name=name: d.find_element(By.CSS_SELECTOR, f"#{name} textarea"))
        box.clear()
        box.send_keys(text)
    # the previous answer's status stays on the page until the server's first update ("reading the clip")
    # replaces it, or its "answered in" would be read as this question's. Gradio patches the status in place
    # (same nodes, attributes synced to the new HTML), so a mark put on it now is gone once an update arrived.
    driver.execute_script("document.querySelectorAll('#status .emox-done, #status .emox-error')"
                          ".forEach(e => e.dataset.emoxPrevious = '1')")
    driver.find_element(By.ID, "run").click()
    WebDriverWait(driver, WAIT_SECONDS).until_not(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#status [data-emox-previous]"))

    def finished(d: Any) -> str | None:
        status = d.find_element(By.ID, "status").text
        return status if status.startswith(("answered in", "emox: error")) else None

    return WebDriverWait(driver, WAIT_SECONDS).until(finished)


def _value(driver: Any, element_id: str) -> str:
    """The text of a textbox, waiting for it to be rendered (an accordion renders its content after opening)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    box = WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"#{element_id} textarea"))
    return box.get_attribute("value")


def _gate_on_page(driver: Any) -> list[tuple[int, int, int, float]]:
    from selenium.webdriver.common.by import By

    return [(int(row.get_attribute("data-expert")), int(row.get_attribute("data-speech-layer")),
             int(row.get_attribute("data-vision-layer")), float(row.get_attribute("data-weight")))
            for row in driver.find_elements(By.CSS_SELECTOR, "#emox-gate .emox-gate-row")]


def _external_requests(driver: Any) -> list[str]:
    """Every http(s)/ws request the page made to a host other than this machine (Chrome's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = message["params"].get("request", {}).get("url") or message["params"].get("url", "")
            parsed = urlparse(url)
            if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in ("127.0.0.1", "localhost"):
                urls.append(url)
    return urls


def _expected(model_dir: Path, clip: Path, task: str, **options: Any) -> dict[str, Any]:
    """The library's answer to the same question, with what it was based on."""
    from emox_core.inference import extract_media, load_for_inference, predict_clip
    from emox_core.inference.explain import explanation

    model, processor = load_for_inference(model_dir, "cpu", "float32")
    media = extract_media(clip, processor)
    prediction = predict_clip(model, processor, clip, task, media=media, **options)
    return {**prediction.to_record(), **explanation(model, processor, media)}


def test_mer_and_erg_in_a_browser(browser: Any, served: str, trained_model_dir: Path, clips: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    from emox_core.inference.predict import parse_history

    _open(browser, served)
    assert _ask(browser, clips["normal"], "MER", subtitle=TRAINED_SUBTITLE).startswith("answered in")
    mer = _expected(trained_model_dir, clips["normal"], "MER", subtitle=TRAINED_SUBTITLE)
    assert _value(browser, "answer") == mer["prediction"] == "The most likely label is happy."
    assert _value(browser, "label") == "label: happy"
    config = NanoEmoXConfig.from_pretrained(trained_model_dir)
    gate = _gate_on_page(browser)
    assert [g[:3] for g in gate] == [(e, s, v) for e, (s, v) in enumerate(
        zip(config.fusion_speech_layers, config.fusion_vision_layers, strict=True))]
    assert sum(g[3] for g in gate) == pytest.approx(1.0, abs=1e-6)
    assert [g[3] for g in gate] == pytest.approx([g["weight"] for g in mer["fusion_gate"]], abs=1e-5)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#frames img")) == 8
    assert len(browser.find_elements(By.CSS_SELECTOR, "#faces img")) == 8
    assert browser.find_elements(By.CSS_SELECTOR, "#waveform img")
    used = {e.get_attribute("data-input"): e.get_attribute("data-used")
            for e in browser.find_elements(By.CSS_SELECTOR, "#emox-inputs .emox-input")}
    assert used == {"frames": "true", "audio": "true", "face": "true", "fusion": "true"}

    assert _ask(browser, None, "ERG", **ERG_QUESTION).startswith("answered in")
    erg = _expected(trained_model_dir, clips["normal"], "ERG", subtitle=ERG_QUESTION["subtitle"],
                    context=ERG_QUESTION["context"], history=parse_history(ERG_QUESTION["history"], "history"))
    assert erg["thinking"]  # the trained model writes its chain of empathy: the page must fold it away
    reply = _value(browser, "answer")
    assert reply == erg["reply"] and "<think>" not in reply and erg["thinking"] not in reply
    browser.find_element(By.CSS_SELECTOR, "#thinking-box button").click()
    assert _value(browser, "thinking") == erg["thinking"]
    artifacts = Path(os.environ.get("EMOX_TEST_ARTIFACTS", REPO_ROOT / "tmp" / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(artifacts / "app.png"))
    assert _external_requests(browser) == []  # offline: nothing fetched from outside this machine


def test_a_bad_file_gives_the_one_line_error_on_the_page(browser: Any, served: str, clips: dict[str, Path]) -> None:
    _open(browser, served)
    status = _ask(browser, clips["text"], "MER")
    assert status == "emox: error: notes.mp4: not a readable video (Invalid data found when processing input)"


def test_a_clip_recorded_from_the_webcam_and_microphone(browser: Any, served: str, uploads: Path,
                                                        trained_model_dir: Path) -> None:
    """Chromium's synthetic camera and microphone record two seconds in the page; the model answers about the
    recording with every input, as the library answers about the file the server received."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def button(text: str) -> Any:
        return WebDriverWait(browser, WAIT_SECONDS).until(lambda d: next(
            (b for b in d.find_elements(By.CSS_SELECTOR, "#clip button")
             if text in f"{b.get_attribute('aria-label')} {b.text}"), None))

    _open(browser, served)
    before = set(uploads.rglob("*.webm"))
    button("Capture from camera").click()
    button("Click to Access Webcam").click()
    button("Record").click()
    time.sleep(2.5)
    button("Stop").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip video"))
    assert _ask(browser, None, "MER", subtitle=TRAINED_SUBTITLE).startswith("answered in")
    recorded = sorted(set(uploads.rglob("*.webm")) - before)
    assert len(recorded) == 1
    expected = _expected(trained_model_dir, recorded[0], "MER", subtitle=TRAINED_SUBTITLE)
    assert expected["modalities"] == {"frames": True, "audio": True, "face": True, "fusion": True}
    assert _value(browser, "answer") == expected["prediction"]
    used = {e.get_attribute("data-input"): e.get_attribute("data-used")
            for e in browser.find_elements(By.CSS_SELECTOR, "#emox-inputs .emox-input")}
    assert used == {"frames": "true", "audio": "true", "face": "true", "fusion": "true"}
