"""The server's torch-free chat template rendering against transformers' apply_chat_template(tokenize=False,
add_generation_prompt=True): the example's tokenizer (examples/assistant/base-model) and templates that use what
transformers adds to jinja2 (raise_exception, tojson, namespace, loop controls, the special tokens, generation
blocks), and the sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ml_ci.tasks.text_generation import chat_template as C

EXAMPLE = Path(__file__).resolve().parents[4] / "examples/assistant/base-model"
CHATS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is 2 plus 2?"}],
    [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": 'Hello <b>&</b> "quoted" ünïcödé 🙂'},
        {"role": "user", "content": "  spaces and\nnew lines\n"},
    ],
]
# A template of the kind hub models carry: the helpers transformers gives templates, and its special tokens.
RICH = """{{ bos_token }}{% set ns = namespace(system='') %}
{% for m in messages %}
  {% if m['role'] == 'system' %}{% set ns.system = m['content'] %}{% continue %}{% endif %}
  {% if (m['role'] == 'user') != (loop.index0 % 2 == (1 if ns.system else 0)) %}
    {{ raise_exception('roles must alternate user/assistant') }}
  {% endif %}
  {% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] | tojson }}{{ eos_token }}{% endgeneration %}
  {% else %}[{{ ns.system }}] {{ m['content'] | trim }}
  {% endif %}
{% endfor %}
{% if add_generation_prompt %}ASSISTANT:{% endif %}"""


def transformers_render(folder: Path, chat: list[dict[str, Any]]) -> str:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return str(tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))


def folder_with(tmp_path: Path, template: str) -> Path:
    folder = tmp_path / "tokenizer"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("*.safetensors"), dirs_exist_ok=True)
    (folder / C.TEMPLATE_FILE).write_text(template, encoding="utf-8")
    return folder


@pytest.mark.parametrize("chat", CHATS, ids=["one-turn", "system", "several"])
def test_the_example_s_template_renders_as_transformers_renders_it(chat: list[dict[str, Any]]) -> None:
    template = C.load(EXAMPLE)
    assert template is not None
    assert template.render(chat) == transformers_render(EXAMPLE, chat)


@pytest.mark.parametrize("chat", CHATS[:2], ids=["one-turn", "system"])
def test_a_template_with_transformers_helpers_renders_as_transformers_renders_it(
    tmp_path: Path, chat: list[dict[str, Any]]
) -> None:
    folder = folder_with(tmp_path, RICH)
    template = C.load(folder)
    assert template is not None and template.special_tokens["bos_token"] == "<|endoftext|>"
    rendered = template.render(chat)
    assert rendered == transformers_render(folder, chat) and rendered.startswith("<|endoftext|>")


def test_the_template_s_own_refusal_is_a_template_error(tmp_path: Path) -> None:
    template = C.load(folder_with(tmp_path, RICH))
    assert template is not None
    with pytest.raises(C.TemplateError, match="roles must alternate user/assistant"):
        template.render([{"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}])


def test_the_template_runs_sandboxed(tmp_path: Path) -> None:
    escape = "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    template = C.load(folder_with(tmp_path, escape))
    assert template is not None
    with pytest.raises(C.TemplateError, match=r"unsafe|not safely|access"):
        template.render(CHATS[0])
    mutate = "{% set _ = messages.append(1) %}{{ messages | length }}"
    template = C.load(folder_with(tmp_path, mutate))
    assert template is not None
    with pytest.raises(C.TemplateError):
        template.render(CHATS[0])
    underscore = "{% set ns = namespace() %}{% set ns._x = 1 %}x"
    template = C.load(folder_with(tmp_path, underscore))
    assert template is not None
    with pytest.raises(C.TemplateError, match="underscore"):
        template.render(CHATS[0])


def test_the_template_comes_from_the_tokenizer_config_without_the_jinja_file(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "x")
    (folder / C.TEMPLATE_FILE).unlink()
    config = json.loads((folder / C.TOKENIZER_CONFIG).read_text(encoding="utf-8"))
    assert C.load(folder) is None
    named = [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "{{ messages[0]['content'] }}!"}]
    (folder / C.TOKENIZER_CONFIG).write_text(json.dumps({**config, "chat_template": named}), encoding="utf-8")
    template = C.load(folder)
    assert template is not None and template.render(CHATS[0]) == "hi!"
    (folder / C.TOKENIZER_CONFIG).write_text(
        json.dumps({**config, "eos_token": {"content": "</s>"}, "chat_template": "{{ eos_token }}"}), encoding="utf-8"
    )
    template = C.load(folder)
    assert template is not None and template.render(CHATS[0]) == "</s>"


def test_a_template_that_does_not_compile_says_where(tmp_path: Path) -> None:
    with pytest.raises(C.TemplateError, match=r"does not compile \(line 2\)"):
        C.load(folder_with(tmp_path, "ok\n{% if %}"))
