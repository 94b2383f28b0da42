"""text-generation: a causal language model (GPT-style: Llama, Qwen2, Mistral, GPT-2, ...) fine-tuned on
prompt/completion or chat records, fully or with a LoRA adapter, with the loss on the completion (assistant)
tokens only; evaluated by held-out loss and perplexity and by a prompt set whose items carry assertions
(pass rate overall and per tag), reference scores (ROUGE-L, chrF) and generation speed; exported merged to ONNX
Runtime GenAI's format.

Records are the unit: `render` turns one into the text the model sees and the character spans it learns,
and every half (data checks, training, evaluation, export) renders through it.
"""

from ml_ci.tasks.task import Task

TASK = Task(
    name="text-generation",
    package=__name__,
    summary="fine-tune a causal language model on prompts and completions or chats (LoRA or full)",
)
