"""Numbers computed from dialogues: statistics, strategy analysis, diversity and response metrics.

Heavy dependencies (scikit-learn, sacrebleu, bert-score, matplotlib) are imported inside the
functions that need them.
"""
