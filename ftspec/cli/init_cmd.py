"""``ftspec init [DIR]``: a spec, its JSON Schema and a small sample dataset that validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

SAMPLE = [
    ("How do I reset my password?", "Open Settings > Account > Reset password, then follow the link we email you."),
    ("비밀번호를 잊어버렸어요.", "설정 > 계정 > 비밀번호 재설정을 누르시면 이메일로 재설정 링크를 보내 드립니다."),
    ("Can I change my delivery address?", "Yes, until the order ships: open Orders, pick the order and choose Edit address."),
    ("배송지를 바꿀 수 있나요?", "출고 전까지는 가능합니다. 주문 내역에서 해당 주문을 열고 '배송지 변경'을 누르세요."),
    ("Where is my refund?", "Refunds reach your card 3-5 business days after we receive the return."),
    ("환불은 언제 들어오나요?", "반품 상품이 도착한 뒤 영업일 기준 3~5일 안에 카드로 환불됩니다."),
    ("Do you ship abroad?", "We ship to 40 countries; the checkout page shows whether yours is one of them."),
    ("해외 배송도 되나요?", "40개국으로 배송합니다. 결제 화면에서 배송 가능 국가를 확인하실 수 있어요."),
    ("How do I cancel my subscription?", "Go to Settings > Subscription and choose Cancel; you keep access until the period ends."),
    ("구독을 해지하고 싶어요.", "설정 > 구독에서 '해지'를 누르시면 됩니다. 남은 기간까지는 계속 이용하실 수 있어요."),
    ("The app crashes when I open it.", "Please update to the latest version; if it still crashes, reinstall and send us the error code."),
    ("앱이 실행되자마자 꺼져요.", "최신 버전으로 업데이트해 주세요. 계속 꺼지면 재설치 후 오류 코드를 알려 주세요."),
    ("Is there a student discount?", "Yes, 20% off with a verified school email address."),
    ("학생 할인이 있나요?", "학교 이메일로 인증하시면 20% 할인해 드립니다."),
    ("How do I contact a human?", "Write 'agent' in this chat during business hours (9-18 KST) and a colleague takes over."),
    ("상담원과 통화할 수 있나요?", "평일 9시~18시에 채팅창에 '상담원'이라고 입력하시면 연결해 드립니다."),
    ("Can I pay with a bank transfer?", "Yes, choose Bank transfer at checkout; the order ships once the payment arrives."),
    ("계좌이체로 결제할 수 있나요?", "네, 결제 화면에서 계좌이체를 선택하시면 입금 확인 후 출고됩니다."),
    ("What is your return window?", "30 days from delivery for unused items in their original packaging."),
    ("반품 기간은 얼마나 되나요?", "미사용 상품은 배송 완료 후 30일 이내에 원래 포장 그대로 반품하실 수 있습니다."),
]

# One block per provider: ``--provider`` makes its lines live and leaves the others commented,
# so a scaffold always shows the alternatives. ``local`` needs no key or network beyond the
# one-time weights download, so the default scaffold builds out of the box.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "local": ("provider: local",
              "base_model: {base_model}  # trains here: pip install 'ftspec[local]'"),
    "openai": ("provider: openai  # needs OPENAI_API_KEY",
               "base_model: {base_model}"),
    "azure": ("provider: azure  # needs AZURE_OPENAI_API_KEY",
              "base_model: {base_model}",
              "providers: {{azure: {{endpoint: \"https://YOUR-RESOURCE.openai.azure.com\"}}}}"),
    "together": ("provider: together  # needs TOGETHER_API_KEY; pip install 'ftspec[together]'",
                 "base_model: {base_model}"),
    "fireworks": ("provider: fireworks  # needs FIREWORKS_API_KEY and FIREWORKS_ACCOUNT_ID",
                  "base_model: {base_model}"),
}
DEFAULT_BASE_MODEL = {"local": "gemma-3-270m", "openai": "gpt-4.1-mini-2025-04-14",
                      "azure": "gpt-4.1-mini-2025-04-14", "together": "Qwen/Qwen3-0.6B",
                      "fireworks": "accounts/fireworks/models/qwen3-8b"}

SPEC = """\
# yaml-language-server: $schema=../schemas/ftspec.schema.json
# ftspec spec v1: `ftspec validate`, `ftspec plan`, `ftspec build` read this file.
ftspec: 1
name: {name}
description: Customer-support assistant (sample data from `ftspec init`).
{provider_block}
sources:
  - name: sample
    path: ../data/{name}/train.jsonl
    format: chat_jsonl
transforms:
  - drop_empty
  - dedupe: {{normalize: true}}
template:
  type: chat
  system: "You are {{{{ name }}}}'s friendly support assistant. Answer in the user's language."
split:
  validation: 0.1
hyperparameters:
  n_epochs: auto
evals:
  - name: smoke
    cases: ../evals/{name}.jsonl
    sampling: {{temperature: 0, max_tokens: 32}}
    scorers:
      - contains: {{field: must_include}}
"""

EVAL_CASES = [
    ("How do I reset my password?", ["Settings"]),
    ("Where is my refund?", ["3-5"]),
    ("What is your return window?", ["30 days"]),
]


def provider_block(provider: str, base_model: str | None) -> str:
    """The chosen provider's lines live, every other one commented out below them."""
    lines: list[str] = []
    for name in [provider] + [n for n in PROVIDERS if n != provider]:
        model = base_model if name == provider and base_model else DEFAULT_BASE_MODEL[name]
        block = [line.format(base_model=model) for line in PROVIDERS[name]]
        if name == provider:
            lines += block
            others = [n for n in PROVIDERS if n != provider]
            lines.append(f"# Alternatives (ftspec init --provider {'|'.join(others)}):")
        else:
            lines += [f"# {line}" for line in block]
    return "\n".join(lines)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:64]
    return slug if slug and slug[0].isalnum() else "my-model"


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Spec name (default: the folder's name).")
@click.option("--provider", type=click.Choice(list(PROVIDERS)), default="local", show_default=True,
              help="Provider the spec targets; the others stay as commented lines.")
@click.option("--base-model", help="Base model (default: the provider's scaffold default).")
def init(directory: Path, name: str | None, provider: str, base_model: str | None) -> None:
    """Scaffold DIR with specs/<name>.yaml, the JSON Schema and sample data."""
    from ftspec.errors import FtspecError
    from ftspec.spec.schema import schema_path
    from ftspec.util import atomic_write_text

    name = _slug(name or directory.resolve().name)
    files = {
        directory / "specs" / f"{name}.yaml": SPEC.format(name=name, provider_block=provider_block(provider, base_model)),
        directory / "data" / name / "train.jsonl": "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
                       ensure_ascii=False, separators=(",", ":")) + "\n"
            for q, a in SAMPLE),
        directory / "evals" / f"{name}.jsonl": "".join(
            json.dumps({"id": f"case-{i}", "messages": [{"role": "user", "content": q}], "must_include": must},
                       ensure_ascii=False, separators=(",", ":")) + "\n"
            for i, (q, must) in enumerate(EVAL_CASES, 1)),
        directory / "schemas" / "ftspec.schema.json": schema_path().read_text(encoding="utf-8"),
    }
    existing = [str(p) for p in files if p.exists() and p.name != "ftspec.schema.json"]
    if existing:
        raise FtspecError(f"{existing[0]}: already exists; ftspec init never overwrites files")
    for path, text in files.items():
        atomic_write_text(path, text)
        click.echo(f"created {path}")
    spec = directory / "specs" / f"{name}.yaml"
    click.echo(f"next: ftspec validate {spec} && ftspec plan {spec} && ftspec build {spec}")
