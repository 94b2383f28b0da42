"""token-classification: named-entity recognition over words, tagged in IOB2 or BIOES with
`data.entity_types`, fine-tuned from any encoder with a token-classification head, exported to ONNX,
served as `{"entities": [{"type", "start", "end", "text", "score"}]}` with character offsets.

Words are the unit everywhere: the data gives words and their tags (or a text with character spans,
split into words by `words.split`, as the server splits raw text); the model tags the first subword
of each word and ignores the rest; entities are runs of words.
"""

from ml_ci.tasks.task import Task

TASK = Task(
    name="token-classification",
    package=__name__,
    summary="tag the words of a text with entity types (named-entity recognition)",
)
