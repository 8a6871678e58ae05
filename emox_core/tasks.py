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
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Task:
    """One of the six tasks. ``questions`` are the training variants; ``questions[0]`` is used at inference."""

    name: str
    identifier: str
    level: str
    questions: tuple[str, ...]
    answer_template: str
    default_labels: tuple[str, ...] = ()
    uses_candidates: bool = False

    def question(self, labels: list[str] | tuple[str, ...] | str | None = None, variant: int = 0,
                 prompt_style: str = "official", **fields: str) -> str:
        """The question text, with candidate labels and any ERG fields filled in."""
        if prompt_style == "paper":
            template = PAPER_QUESTIONS.get(self.name, self.questions[variant % len(self.questions)])
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

    def parse(self, text: str, labels: list[str] | tuple[str, ...] | None = None) -> ParsedAnswer:
        """Turn generated text into this task's answer (label, label list, or thinking + reply)."""
        text = text.split("###", 1)[0].strip()
        if self.name == "ERG":
            match = _THINK.search(text)
            thinking = match.group(1).strip() if match else None
            reply = _THINK.sub("", text).replace("<think>", "").strip()
            emotion = re.search(r"the emotion of the speaker is\s+(\w+)", (thinking or "").lower())
            return ParsedAnswer(text=text, label=emotion.group(1) if emotion else None, thinking=thinking, reply=reply)
        if self.name == "OV-MER":
            found = split_label_list(_after_is(text))
            return ParsedAnswer(text=text, labels=found, label=found[0] if found else None)
        if self.name == "ERI":
            return ParsedAnswer(text=text)
        candidates = tuple(labels) if labels else self.default_labels
        label = match_label(_after_is(text), candidates) or match_label(text, candidates)
        return ParsedAnswer(text=text, label=label, labels=[label] if label else [])


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
            uses_candidates=True,
        ),
        Task(
            name="MER", identifier="[Recognition]", level="perception",
            questions=("[Recognition] Please select the label that can best describe the person's emotional state "
                       "from the provided candidate labels: {candidate_labels}.",),
            answer_template="The most likely label is {label}.", default_labels=CAER_FERV39K_LABELS,
            uses_candidates=True,
        ),
        Task(
            name="OV-MER", identifier="[Recogn_OV]", level="perception", questions=OV_QUESTIONS,
            answer_template="The character's emotional state is {labels}.",
        ),
        Task(
            name="ERI", identifier="[Inference]", level="understanding", questions=ERI_QUESTIONS,
            answer_template="{reason}",
        ),
        Task(
            name="MIR", identifier="[Intent]", level="understanding",
            questions=("[Intent]recognize speaker's intention from the provided candidate labels: "
                       "{candidate_labels}.",),
            answer_template="{label}", default_labels=MINTREC_LABELS, uses_candidates=True,
        ),
        Task(
            name="ERG", identifier="[Interaction]", level="interaction", questions=(ERG_QUESTION,),
            answer_template=ERG_ANSWER,
        ),
    )
}

TASK_NAMES = tuple(TASKS)


def get_task(name: str) -> Task:
    """Look a task up by name (case-insensitive; "OV_MER"/"ovmer" accepted)."""
    key = name.strip().upper().replace("_", "-")
    if key == "OVMER":
        key = "OV-MER"
    if key not in TASKS:
        raise EmoxError(f"unknown task {name!r}: choose one of {', '.join(TASK_NAMES)}")
    return TASKS[key]


def identifier_for(task: str, prompt_style: str = "official") -> str:
    """The identifier that the prompt of ``task`` carries under ``prompt_style``."""
    spec = get_task(task)
    if prompt_style == "paper" and spec.name == "OV-MER":
        return "[Recog_OV]"
    return spec.identifier
