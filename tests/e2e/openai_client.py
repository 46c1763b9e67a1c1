"""Call an OpenAI-compatible embeddings endpoint with the official `openai` client; print JSON.
usage: openai_client.py BASE_URL MODEL TEXT [TEXT ...]"""
import json
import sys

from openai import OpenAI

base, model, *texts = sys.argv[1:]
client = OpenAI(base_url=base, api_key="not-needed-locally", max_retries=0)
r = client.embeddings.create(model=model, input=texts)
print(json.dumps({"model": r.model, "tokens": r.usage.prompt_tokens,
                  "vectors": [d.embedding for d in sorted(r.data, key=lambda d: d.index)]}))
