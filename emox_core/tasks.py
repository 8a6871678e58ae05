"""The six Nano-EmoX tasks: identifiers, question templates, candidate labels and answer parsing.

One registry (:data:`TASKS`) is read by the processor (prompts), the dataset adapters (targets),
inference (parsing) and evaluation. Question strings are protocol data: they are kept verbatim
from the official code (waHAHJIAHAO/Nano-EmoX @ b08f985, ``datasets/datasets/base_dataset.py``),
because a released checkpoint only understands the exact strings it was trained on.

Paper vs code (both documented in the README):
* the paper's Table 1 writes the OV-MER identifier ``[Recog_OV]``; the code trains with ``[Recogn_OV]``.
  ``prompt_style="official"`` (default) uses the code's strings, ``"paper"`` the supplement's Appendix D.
* the paper has no MSA template; emox uses ``[Recognition]`` with the three sentiment candidates.
  (MER-UniBench's official protocol asks every set with the OV question instead; see evaluation.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emox_core.errors import EmoxError

# Candidate label strings as the official code injects them (verbatim, including missing spaces).
CAER_FERV39K_LABELS = ("anger", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CREMA_D_LABELS = ("anger", "disgust", "fear", "happy", "neutral", "sad")
MINTREC_LABELS = (
    "complain", "praise", "apologise", "thank", "criticize", "agree", "taunt", "flaunt", "joke", "oppose",
    "comfort", "care", "inform", "advise", "arrange", "introduce", "leave", "prevent", "greet", "ask for help",
)
MINTREC2_LABELS = (
    "acknowledge", "advise", "agree", "apologise", "arrange", "ask for help", "asking for opinions", "care",
    "comfort", "complain", "confirm", "criticize", "doubt", "emphasize", "explain", "flaunt", "greet", "inform",
    "introduce", "invite", "joke", "leave", "oppose", "plan", "praise", "prevent", "refuse", "taunt", "thank", "warn",
)
# The official MIntRec2 candidate string has no space after some commas; kept for prompt parity.
MINTREC2_CANDIDATE_STRING = (
    "acknowledge, advise, agree, apologise, arrange,ask for help, asking for opinions, care, comfort, complain,"
    "confirm, criticize, doubt, emphasize, explain,flaunt, greet, inform, introduce, invite,joke, leave, oppose, "
    "plan, praise,prevent, refuse, taunt, thank, warn"
)
AVAMERG_LABELS = (
    "conflicted", "sadness", "weary", "upset", "frustrated", "disappointment", "uneasy", "confused", "stressed",
    "burdened", "worry", "nervous", "confusion", "helpless", "overwhelm", "surprised", "proud", "lonely", "guilty",
    "hopeful", "anxious", "nostalgic", "content", "caring", "ashamed",
)
SENTIMENT_LABELS = ("positive", "negative", "neutral")

ERI_QUESTIONS = (
    "[Inference]Evaluate all available clues\u2014visual, auditory, and physiological. What is the final conclusion "
    "about the subject's emotion, and which pieces of evidence were most critical to this determination?",
    "[Inference]From the combined evidence of speech, tone, and visual expression, construct a detailed summary of "
    "the subject's emotional journey and final inferred state.",
    "[Inference]Analyze the complete emotional narrative. Considering the visual context, vocal characteristics, "
    "and facial action units, what is the most accurate emotional assessment and why?",
    "[Inference]Based on the synthesis of multimodal data including video, audio, and facial expressions, what is "
    "the subject's comprehensive emotional state? Provide a detailed rationale with evidence from each modality.",
)
OV_QUESTIONS = (
    "[Recogn_OV] Please recognize all possible emotional states of the character.",
    "[Recogn_OV] Can you identify every emotional state the character could be displaying?",
    "[Recogn_OV] Recognize all the possible emotional states the character might be feeling in this context.",
    "[Recogn_OV] Identify all possible emotions the character may be experiencing.",
    "[Recogn_OV] What are the various emotional states the character could potentially be in?",
)
# The ERG training question (base_dataset.py:415-422); \u2019 is the right single quotation mark.
ERG_QUESTION = (
    "Context: {context}\ncurrent user input:{current_user_input}\n"
    "[Interaction]You are an empathetic listener. Your goal is to understand the user\u2019s emotions and intentions, "
    "and respond or comfort them with appropriate language that helps them feel understood and cared for. Avoid "
    "rushing into your response; instead, carefully engage in a step-by-step, in-depth analysis before providing an "
    "answer.Please analyze using Chain of Empathy (Firstly, Event scenario:Reflect on the event scenarios that arise "
    "from the ongoing dialogueSecondly, User\u2019s emotion:please analyze User\u2019s emotion mostly like emotions "
    "conveyed by the user(speaker),Thirdly, the emotion cause:Infer the underlying reasons for the user\u2019s "
    "emotions.Fourthly, the goal to response:Determine the goal of your response in this particular instance, such "
    "as alleviating anxiety, offering reassurance, or expressing understanding.)in <think></think> tags and with "
    "Line break,then provide your empathic response:"
)
# The supplement's Appendix D wording (prompt_style="paper").
PAPER_QUESTIONS = {
    "MER": "[Recognition] Please select the label that can best describe the person\u2019s emotional state from the "
    "provided candidate labels: {candidate_labels}.",
    "MIR": "[Intent] Recognize speaker\u2019s intention from the provided candidate labels: {candidate_labels}.",
    "OV-MER": "[Recog_OV] Recognize all the possible emotional states the character might be feeling in this context.",
    "ERI": "[Inference] From the combined evidence of speech, tone, and visual expression, construct a detailed "
    "summary of the subject\u2019s emotional journey and final inferred state.",
    "ERG": "Context: {context}\ncurrent user input:{current_user_input}\n"
    "[Interaction] You are an empathetic listener, your goal is to understand the user\u2019s emotions and "
    "intentions, and respond or comfort them with appropriate language that helps them feel understood and cared "
    "for. Please analyze using Chain of Empathy: First, Reflect on the event scenarios that arise from the ongoing "
    "dialogue. Secondly, Analyze both the implicit and explicit emotions conveyed by the user. Thirdly, Infer the "
    "underlying reasons for the user\u2019s emotions. Fourthly, Determine the goal of your response in this "
    "particular instance, such as alleviating anxiety, offering reassurance, or expressing understanding.",
}

# The chain of empathy target (ERG answer), with one space after the closing tag's newline.
ERG_ANSWER = (
    "<think>Firstly, the event scenario of this conversation is: {event_scenario}\n"
    "Secondly, the emotion of the speaker is {speaker_emotion}\n"
    "Thirdly, the emotion cause is {emotion_cause}\n"
    "Fourthly, the goal to response is {goal_to_response}</think>\n {response}"
)

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass(frozen=True)
class ParsedAnswer:
    """What a generated answer means for its task: the text, a label (or labels), the thinking part."""

    text: str
    label: str | None = None
    labels: list[str] = field(default_factory=list)
    thinking: str | None = None
    reply: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ParsedAnswer:
        """The parsed answer a predictions record holds (``prediction``, ``label``, ``labels``, ...)."""
        return cls(text=record["prediction"], label=record.get("label"), labels=list(record.get("labels") or []),
                   thinking=record.get("thinking"), reply=record.get("reply"))


def _parse_label(text: str, candidates: tuple[str, ...]) -> ParsedAnswer:
    label = match_label(_after_is(text), candidates) or match_label(text, candidates)
    return ParsedAnswer(text=text, label=label, labels=[label] if label else [])


def _parse_label_list(text: str, candidates: tuple[str, ...]) -> ParsedAnswer:
    found = split_label_list(_after_is(text))
    return ParsedAnswer(text=text, labels=found, label=found[0] if found else None)


def _parse_text(text: str, candidates: tuple[str, ...]) -> ParsedAnswer:
    return ParsedAnswer(text=text)


def _parse_reply(text: str, candidates: tuple[str, ...]) -> ParsedAnswer:
    """``<think>chain of empathy</think> reply``: the label is the speaker's emotion the chain names."""
    match = _THINK.search(text)
    thinking = match.group(1).strip() if match else None
    reply = _THINK.sub("", text).replace("<think>", "").strip()
    emotion = re.search(r"the emotion of the speaker is\s+(\w+)", (thinking or "").lower())
    return ParsedAnswer(text=text, label=emotion.group(1) if emotion else None, thinking=thinking, reply=reply)


@dataclass(frozen=True)
class AnswerKind:
    """How the answers of a kind of task are read (``parse``), summed up in one line after the streamed
    answer (``summary``: None for free text), shown (``has_thinking``: a ``<think>`` part hidden unless
    asked for) and compared (``labelled``)."""

    parse: Callable[[str, tuple[str, ...]], ParsedAnswer]
    summary: Callable[[ParsedAnswer], str | None]
    has_thinking: bool = False
    labelled: bool = False  # a label or label set: answers are compared by it (``emox infer --ablate``)


ANSWER_KINDS: dict[str, AnswerKind] = {
    # one of the candidate labels ("The most likely label is happy.")
    "label": AnswerKind(_parse_label, lambda p: f"label: {p.label or '(none of the candidates)'}", labelled=True),
    # an open-vocabulary list ("The character's emotional state is {a, b}.")
    "labels": AnswerKind(_parse_label_list, lambda p: f"labels: {', '.join(p.labels) or '(none)'}", labelled=True),
    # free text (a reasoning paragraph)
    "text": AnswerKind(_parse_text, lambda p: None),
    # a <think> chain, then the reply
    "reply": AnswerKind(_parse_reply, lambda p: None, has_thinking=True),
}


@dataclass(frozen=True)
class Task:
    """One task and everything that is particular to it: prompts, answer kind, generation length, layout.

    ``questions`` are the training variants (``questions[0]`` is used at inference); ``paper_question`` and
    ``paper_identifier`` replace them under ``prompt_style="paper"``. ``answer`` names an :data:`ANSWER_KINDS`
    entry; ``max_new_tokens`` is the default generation length (covers the trained targets; the official 1200
    is for sampling runaway text). ``layout`` is the prompt layout the task always uses (``None``: the caller's,
    e.g. a phase's); ``inputs`` fills template fields from the user's inputs (``subtitle``, ``context``).
    ``example`` holds inputs that make a meaningful demo question (``emox demo``); ``description`` is the few
    words a task picker shows (``emox app``).
    """

    name: str
    identifier: str
    level: str
    questions: tuple[str, ...]
    answer_template: str
    answer: str = "label"
    max_new_tokens: int = 32
    default_labels: tuple[str, ...] = ()
    uses_candidates: bool = False
    layout: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    paper_question: str | None = None
    paper_identifier: str | None = None
    example: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if self.answer not in ANSWER_KINDS:
            raise EmoxError(f"task {self.name}: answer kind {self.answer!r} is not one of {', '.join(ANSWER_KINDS)}")
        if self.max_new_tokens < 1:
            raise EmoxError(f"task {self.name}: max_new_tokens must be >= 1")
        unknown = sorted(set(self.inputs.values()) - set(USER_INPUTS))
        if unknown:
            raise EmoxError(f"task {self.name}: inputs {unknown} are not among {', '.join(USER_INPUTS)}")

    @property
    def kind(self) -> AnswerKind:
        return ANSWER_KINDS[self.answer]

    @property
    def reads_dialogue(self) -> bool:
        """Whether the task's prompt carries a dialogue history (and a situation, ``context``)."""
        return self.layout == "dialogue"

    def question(self, labels: list[str] | tuple[str, ...] | str | None = None, variant: int = 0,
                 prompt_style: str = "official", **fields: str) -> str:
        """The question text, with candidate labels and the task's fields filled in."""
        if prompt_style == "paper":
            template = self.paper_question or self.questions[variant % len(self.questions)]
        elif prompt_style == "official":
            template = self.questions[variant % len(self.questions)]
        else:
            raise EmoxError(f"unknown prompt_style {prompt_style!r}: use 'official' or 'paper'")
        if self.uses_candidates:
            if labels is None:
                labels = self.default_labels
            if not labels:
                raise EmoxError(f"task {self.name} needs candidate labels (--labels a,b,c)")
            fields["candidate_labels"] = labels if isinstance(labels, str) else ", ".join(labels)
        try:
            return template.format(**fields) if "{" in template else template
        except KeyError as exc:
            raise EmoxError(f"task {self.name}: prompt field {exc.args[0]!r} is missing") from None

    def input_fields(self, **values: str) -> dict[str, str]:
        """The prompt fields this task fills from the user's inputs (``subtitle=..., context=...``)."""
        return {name: values.get(source, "") for name, source in self.inputs.items()}

    def parse(self, text: str, labels: list[str] | tuple[str, ...] | None = None) -> ParsedAnswer:
        """Turn generated text into this task's answer (label, label list, text, or thinking + reply)."""
        text = text.split("###", 1)[0].strip()
        return self.kind.parse(text, tuple(labels) if labels else self.default_labels)

    def summary(self, parsed: ParsedAnswer) -> str | None:
        """The line printed after the streamed answer (``label: happy``), or None."""
        return self.kind.summary(parsed)

    def shown_answer(self, parsed: ParsedAnswer, show_thinking: bool = False) -> str:
        """The answer as a user reads it: the reply alone for a task with a ``<think>`` part (with it when
        ``show_thinking``), else the text."""
        if not self.kind.has_thinking:
            return parsed.text
        if show_thinking and parsed.thinking:
            return f"<think>{parsed.thinking}</think>\n{parsed.reply or ''}"
        return parsed.reply or ""


# What a user can give besides the clip (``emox infer --subtitle/--context``), by the name ``Task.inputs`` uses.
USER_INPUTS = ("subtitle", "context")


def _after_is(text: str) -> str:
    """The part after "... is" in answers like "The most likely label is happy." (else the whole text)."""
    match = re.search(r"\bis[:\s]+(.*)$", text, re.DOTALL)
    return (match.group(1) if match else text).strip().rstrip(".").strip()


def split_label_list(text: str) -> list[str]:
    """"{a, b}" / "[a, b]" / "a, b and c" -> ["a", "b", "c"] (lower-cased, de-duplicated, order kept)."""
    body = text.strip().strip("{}[]()").replace(" and ", ",")
    out: list[str] = []
    for item in body.split(","):
        item = item.strip().strip("'\"`.").strip().lower()
        if item and item not in out:
            out.append(item)
    return out


def match_label(text: str, candidates: tuple[str, ...] | list[str]) -> str | None:
    """The candidate that the text names: exact match first, then the longest candidate contained in it."""
    norm = text.strip().strip(".").strip().lower()
    if not norm:
        return None
    by_lower = {c.lower(): c for c in candidates}
    if norm in by_lower:
        return by_lower[norm]
    if not candidates:
        return norm
    for cand in sorted(by_lower, key=len, reverse=True):
        if re.search(rf"(?<![a-z]){re.escape(cand)}(?![a-z])", norm):
            return by_lower[cand]
    return None


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="MSA", identifier="[Recognition]", level="perception",
            questions=("[Recognition] Please select the label that can best describe the person's sentiment from "
                       "the provided candidate labels: {candidate_labels}.",),
            answer_template="The most likely label is {label}.", default_labels=SENTIMENT_LABELS,
            uses_candidates=True, description="sentiment",
        ),
        Task(
            name="MER", identifier="[Recognition]", level="perception",
            questions=("[Recognition] Please select the label that can best describe the person's emotional state "
                       "from the provided candidate labels: {candidate_labels}.",),
            answer_template="The most likely label is {label}.", default_labels=CAER_FERV39K_LABELS,
            uses_candidates=True, paper_question=PAPER_QUESTIONS["MER"], description="emotion label",
        ),
        Task(
            name="OV-MER", identifier="[Recogn_OV]", level="perception", questions=OV_QUESTIONS,
            answer_template="The character's emotional state is {labels}.", answer="labels", max_new_tokens=64,
            paper_question=PAPER_QUESTIONS["OV-MER"], paper_identifier="[Recog_OV]",
            description="open-vocabulary emotions",
        ),
        Task(
            name="ERI", identifier="[Inference]", level="understanding", questions=ERI_QUESTIONS,
            answer_template="{reason}", answer="text", max_new_tokens=512, paper_question=PAPER_QUESTIONS["ERI"],
            description="emotion reasoning",
        ),
        Task(
            name="MIR", identifier="[Intent]", level="understanding",
            questions=("[Intent]recognize speaker's intention from the provided candidate labels: "
                       "{candidate_labels}.",),
            answer_template="{label}", default_labels=MINTREC_LABELS, uses_candidates=True,
            paper_question=PAPER_QUESTIONS["MIR"], description="intent",
        ),
        Task(
            name="ERG", identifier="[Interaction]", level="interaction", questions=(ERG_QUESTION,),
            answer_template=ERG_ANSWER, answer="reply", max_new_tokens=512, layout="dialogue",
            inputs={"context": "context", "current_user_input": "subtitle"}, paper_question=PAPER_QUESTIONS["ERG"],
            description="empathetic reply",
            example={"context": "a conversation with a friend after a long week",
                     "history": [{"role": "speaker", "text": "I have been so tired lately."},
                                 {"role": "listener", "text": "That sounds exhausting. What happened?"}]},
        ),
    )
}

# The six tasks of the paper (a task added with register_task is in TASKS and task_names(), not here).
TASK_NAMES = tuple(TASKS)


def register_task(task: Task) -> Task:
    """Add a task to the registry: the processor, training, inference, evaluation readers and the CLI then
    know it (its prompts, answer kind, generation length and layout are all in ``task``)."""
    if _key(task.name) in {_key(name) for name in TASKS}:
        raise EmoxError(f"task {task.name}: already registered")
    TASKS[task.name] = task
    return task


def task_names() -> tuple[str, ...]:
    """Every registered task, the paper's six first."""
    return tuple(TASKS)


def task_list(predicate: Callable[[Task], bool] = lambda task: True, conjunction: str = "or") -> str:
    """The names of the registered tasks that ``predicate`` accepts, for messages and help:
    ``"MSA, MER, OV-MER, ERI, MIR or ERG"``."""
    names = [name for name, task in TASKS.items() if predicate(task)]
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}" if len(names) > 1 else "".join(names)


def _key(name: str) -> str:
    return name.strip().upper().replace("_", "").replace("-", "")


def get_task(name: str) -> Task:
    """Look a task up by name (case-insensitive; "OV_MER"/"ovmer" accepted)."""
    for task_name, task in TASKS.items():
        if _key(task_name) == _key(name):
            return task
    raise EmoxError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")


def identifier_for(task: str, prompt_style: str = "official") -> str:
    """The identifier that the prompt of ``task`` carries under ``prompt_style``."""
    spec = get_task(task)
    if prompt_style == "paper" and spec.paper_identifier:
        return spec.paper_identifier
    return spec.identifier
