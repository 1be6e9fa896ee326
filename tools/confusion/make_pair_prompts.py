"""Write a SEM pair-prompt file from a Confusion Bank's top pairs with an OpenAI-compatible chat endpoint.

For each of the most confused class pairs (a, b) the model is asked for short visual sentences: what the
two classes have in common, what distinguishes a from b and b from a. Output (``CAPT.SEM.PAIR_FILE``)::

    {a: {b: {"common": [...], "diff": [...]}, ...}, ...}

The endpoint is configured by the user through the environment (nothing is built in):

    CAPT_CHAT_URL    base URL of the API, e.g. https://host/v1 (fallback: OPENAI_BASE_URL)
    CAPT_CHAT_KEY    API key, sent as a bearer token (fallback: OPENAI_API_KEY; may be empty)
    CAPT_CHAT_MODEL  model name (or --model)

Example::

    python -m tools.confusion.make_pair_prompts output/.../seed1/confusion_bank.pt --pairs 20 \
        --output DATA/pair_prompts/caltech101.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from dassl.utils import write_json_atomic  # noqa: E402

SYSTEM = ("You describe visual differences between image categories for a vision-language model. "
          "Answer with one JSON object only.")
USER = ("Two categories are often confused: \"{a}\" and \"{b}\". Give {n} short visual sentences for each "
        "key of this JSON object: {{\"common\": [what both share], \"diff_a\": [what a {a} has that a {b} "
        "lacks], \"diff_b\": [what a {b} has that a {a} lacks]}}. Each sentence must mention the category "
        "it describes.")


def endpoint_from_env(model: str | None = None) -> tuple[str, str, str]:
    url = os.environ.get("CAPT_CHAT_URL") or os.environ.get("OPENAI_BASE_URL") or ""
    key = os.environ.get("CAPT_CHAT_KEY") or os.environ.get("OPENAI_API_KEY") or ""
    model = model or os.environ.get("CAPT_CHAT_MODEL") or ""
    if not url:
        raise ValueError("no chat endpoint configured: set CAPT_CHAT_URL (or OPENAI_BASE_URL) to the API "
                         "base URL, e.g. https://host/v1")
    if not model:
        raise ValueError("no model configured: pass --model or set CAPT_CHAT_MODEL")
    return url.rstrip("/"), key, model


def chat(url: str, key: str, model: str, messages: list[dict], timeout: float = 60.0) -> str:
    """One chat-completions call; returns the first choice's text."""
    body = json.dumps({"model": model, "messages": messages, "temperature": 0.2}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{url}/chat/completions", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"{url}/chat/completions answered HTTP {err.code}: {err.read()[:300]!r}") from None
    except urllib.error.URLError as err:
        raise RuntimeError(f"cannot reach {url}/chat/completions: {err.reason}") from None
    try:
        return payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        shown = repr(payload)[:300]
        raise RuntimeError(f"unexpected chat response (no choices[0].message.content): {shown}") from None


def parse_answer(text: str) -> dict:
    """The JSON object in the model's answer, with the three lists of strings."""
    match = re.search(r"\{.*\}", text, flags=re.S)
    if not match:
        raise ValueError(f"the model's answer holds no JSON object: {text[:200]!r}")
    data = json.loads(match.group(0))
    out = {}
    for key in ("common", "diff_a", "diff_b"):
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        out[key] = [s.strip() for s in value if isinstance(s, str) and s.strip()]
    return out


def top_pairs(bank: dict, count: int, by: str = "N") -> list[tuple[str, str]]:
    """Unordered class pairs ranked by the symmetric confusion count."""
    m = bank[by]
    sym = m + m.t()
    names = bank["classnames"]
    pairs = []
    for idx in sym.triu(diagonal=1).flatten().argsort(descending=True).tolist():
        a, b = divmod(idx, sym.shape[1])
        if a < b and float(sym[a, b]) > 0 and len(pairs) < count:
            pairs.append((names[a], names[b]))
    return pairs


def make_pair_prompts(bank: dict, count: int, url: str, key: str, model: str, n_sentences: int = 3) -> dict:
    result: dict = {}
    for i, (a, b) in enumerate(top_pairs(bank, count)):
        print(f"[{i + 1}] {a} <-> {b}")
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": USER.format(a=a, b=b, n=n_sentences)}]
        answer = parse_answer(chat(url, key, model, messages))
        result.setdefault(a, {})[b] = {"common": answer["common"], "diff": answer["diff_a"]}
        result.setdefault(b, {})[a] = {"common": answer["common"], "diff": answer["diff_b"]}
    return result


def main(argv=None) -> int:
    from trainers.capt.bank import load_bank

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bank", help="confusion_bank.pt (or the stage-1 run directory)")
    parser.add_argument("--output", required=True, help="pair-prompt JSON to write (CAPT.SEM.PAIR_FILE)")
    parser.add_argument("--pairs", type=int, default=20, help="number of most confused pairs (default 20)")
    parser.add_argument("--sentences", type=int, default=3, help="sentences per kind (default 3)")
    parser.add_argument("--model", default=None, help="model name (default: $CAPT_CHAT_MODEL)")
    args = parser.parse_args(argv)
    path = os.path.join(args.bank, "confusion_bank.pt") if os.path.isdir(args.bank) else args.bank
    url, key, model = endpoint_from_env(args.model)
    result = make_pair_prompts(load_bank(path), args.pairs, url, key, model, args.sentences)
    write_json_atomic(result, args.output)
    print(f"Wrote {sum(len(v) for v in result.values())} ordered pairs to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
