"""The language-conditioned variant of the xview network: the same view encoder and heads, the goal given in words.

A small text encoder replaces the goal-image encoder: the instruction is lower-cased and split into words, each word
looked up in the vocabulary stored in the checkpoint's manifest (unknown words share one embedding, so a colour
name never seen in training is read as "some colour"), and the mean of the word embeddings, through one layer,
modulates the view exactly as the cross-view goal does. The interaction is read from the words alone: the policy
never sees ``LanguageGoal.interaction`` or the structured target attributes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from harness.errors import CrossviewError
from harness.spec import Goal, LanguageGoal, Modality
from policies.torch.xview import F, XViewNet, nn, register, torch

ARCHITECTURE = "xview-lang"
PAD, UNK = 0, 1
MAX_WORDS = 24


def words(text: str) -> list[str]:
    """The instruction's words: lower case, letters only."""
    return re.findall(r"[a-z]+", text.lower())


def build_vocab(texts: Iterable[str]) -> list[str]:
    """Every word of ``texts``, sorted (deterministic), to store in the manifest."""
    return sorted({w for t in texts for w in words(t)})


class XViewLangNet(XViewNet):
    """``hyperparameters``: width, embed, input (as XViewNet) and vocab (the word list)."""

    def __init__(self, width: int = 16, embed: int = 128, input: int = 64,  # noqa: A002
                 vocab: Sequence[str] = ()) -> None:
        super().__init__(width, embed, input)
        del self.goal, self.goal_fc, self.interaction  # the image-goal encoder is not used
        self.vocab = {w: i + 2 for i, w in enumerate(vocab)}
        self.words = nn.Embedding(len(vocab) + 2, embed, padding_idx=PAD)
        self.text_fc = nn.Linear(embed, embed)

    def tokens(self, texts: Sequence[str], device: str = "cpu") -> Any:
        """Word ids, B x MAX_WORDS, padded with PAD; unknown words become UNK."""
        out = np.zeros((len(texts), MAX_WORDS), np.int64)
        for k, text in enumerate(texts):
            ids = [self.vocab.get(w, UNK) for w in words(text)][:MAX_WORDS]
            out[k, :len(ids)] = ids
        return torch.from_numpy(out).to(device)

    def embed_goal(self, goal: Any, interaction: Any) -> Any:
        """Mean of the instruction's word embeddings through one layer; ``interaction`` is ignored."""
        emb = self.words(goal)
        count = (goal != PAD).sum(1, keepdim=True).clamp(min=1)
        return F.relu(self.text_fc(emb.sum(1) / count))


def language_of(goal: Any) -> LanguageGoal:
    """The LanguageGoal a policy was given, else a one-line error."""
    part = goal.language if isinstance(goal, Goal) else None
    if part is None:
        raise CrossviewError("the xview-lang policy needs language goals (sweep goals: [language])")
    return part


def language_inputs(net: XViewLangNet, goals: Sequence[Any], device: str = "cpu") -> tuple[Any, Any]:
    """``embed_goal``'s inputs: the instructions as word ids (the interaction input is unused)."""
    texts = [language_of(g).instruction for g in goals]
    return net.tokens(texts, device), torch.zeros(len(goals), dtype=torch.long, device=device)


register(ARCHITECTURE, XViewLangNet, (Modality.LANGUAGE,), language_inputs)
