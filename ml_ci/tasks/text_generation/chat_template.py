"""A chat rendered to the prompt text the model continues, as transformers' `apply_chat_template(messages,
tokenize=False, add_generation_prompt=True)` renders it, without transformers or torch (the serving image has
neither): the export folder's chat template (chat_template.jinja, else tokenizer_config.json's `chat_template`)
compiled by jinja2 in the environment transformers compiles it in, and given what transformers gives it (the
messages, `add_generation_prompt`, the tokenizer's named special tokens: `bos_token`, `eos_token`, ...).

The template is code from the model's author (a hub download, in general): it runs in jinja2's immutable sandbox, as
transformers runs it, so that it cannot reach Python's internals or change the values it is given.
tests/unit/tasks/text_generation/test_chat_template.py holds the output equal to transformers' on the example's
tokenizer and on templates that use the helpers transformers adds (raise_exception, tojson, namespace, strftime_now).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATE_FILE = "chat_template.jinja"
TOKENIZER_CONFIG = "tokenizer_config.json"
# The tokenizer's named special tokens transformers passes to the template (PreTrainedTokenizerBase's
# SPECIAL_TOKENS_ATTRIBUTES), when set.
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


class TemplateError(ValueError):
    """The template refused the chat (its raise_exception, e.g. "roles must alternate") or failed on it."""


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False) -> str:
    # transformers replaces jinja2's tojson, which escapes HTML characters, by plain json.dumps.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


class _Dict:
    """`dict(...)` in a template, without the class itself (whose attributes lead out of the sandbox)."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _Namespace(jinja2.utils.Namespace):
    """jinja2's namespace(), refusing underscore names as transformers' does (they reach CPython's internals)."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # jinja2's own signature trick, so that namespace(self=...) works
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            _Namespace._check(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _Namespace._check(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"chat templates cannot store underscore-prefixed attributes: {name!r}")


def _environment() -> ImmutableSandboxedEnvironment:
    """transformers' environment (chat_template_utils._cached_compile_jinja_template), but its {% generation %} tag,
    which only marks assistant tokens for training and renders its body unchanged."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _Dict()
    env.globals["namespace"] = _Namespace
    return env


class _Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: its body, as is (transformers tracks where it lies; serving need not)."""

    tags = {"generation"}  # noqa: RUF012 - jinja2 reads the class attribute, as its own extensions declare it

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return str(caller())


def _token_text(value: Any) -> Optional[str]:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken object with its `content`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


class ChatTemplate:
    """An export folder's chat template, compiled once; `render` is thread-safe."""

    def __init__(self, source: str, special_tokens: Mapping[str, str]) -> None:
        self.source = source
        self.special_tokens = dict(special_tokens)
        try:
            self._template = _environment().from_string(source)
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise TemplateError(f"the chat template does not compile (line {e.lineno}): {e.message}") from None

    def render(self, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True) -> str:
        """The prompt text; TemplateError when the template refuses the chat."""
        chat = [dict(m) for m in messages]
        try:
            return str(
                self._template.render(
                    messages=chat, tools=None, documents=None, add_generation_prompt=add_generation_prompt, **self.special_tokens
                )
            )
        except jinja2.exceptions.TemplateError as e:  # raise_exception's, the sandbox's, an undefined name's
            raise TemplateError(str(e)) from None


def load(folder: Path) -> Optional[ChatTemplate]:
    """The folder's chat template (chat_template.jinja, else tokenizer_config.json's `chat_template`: a string, or
    transformers' list of named templates, whose `default` is the one apply_chat_template uses); None without one."""
    config_path = folder / TOKENIZER_CONFIG
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    path = folder / TEMPLATE_FILE
    source: Any = path.read_text(encoding="utf-8") if path.is_file() else config.get("chat_template")
    if isinstance(source, list):
        named = {t.get("name"): t.get("template") for t in source if isinstance(t, dict)}
        source = named.get("default")
    if not isinstance(source, str):
        return None
    tokens = {name: text for name in SPECIAL_TOKENS if (text := _token_text(config.get(name))) is not None}
    return ChatTemplate(source, tokens)
