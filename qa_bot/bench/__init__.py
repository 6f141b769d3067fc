"""`qa-bot bench`: measures on this machine what the bot costs per question, at start-up, in memory,
while indexing and as the corpus grows to a million passages, so the README quotes measured figures.

Modules: `corpus` (questions and articles), `latency` (per-question cost against the model's floor),
`coldstart` (fresh processes, peak RSS, heavy imports), `indexing` (passages/s), `incremental`
(one-article updates against a full build), `scale` (synthetic
10k-1M corpora), `report` (table, JSON, chart) and `commands` (the click command, light imports only).
"""
