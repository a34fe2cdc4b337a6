"""Compare every eval csv of two eval_tables.py outputs, keyed by path without +finetune-<digest>
(the digest hashes the checkpoint path, which differs between the two output folders)."""

import hashlib
import re
import sys
from pathlib import Path


def files(root):
    out = {}
    for f in Path(root).rglob("*.csv"):
        key = re.sub(r"\+finetune-[0-9a-f]{6}", "+finetune-*", str(f.relative_to(root)))
        key = re.sub(r"\+eval-[0-9a-f]{8}", "+eval-*", key)
        out[key] = f.read_bytes()
    return out


a, b = files(sys.argv[1]), files(sys.argv[2])
same = [k for k in a if k in b and a[k] == b[k]]
diff = [k for k in a if k in b and a[k] != b[k]]
print(f"before {len(a)} files, after {len(b)} files, identical {len(same)}, different {len(diff)}")
for k in sorted(set(a) ^ set(b)):
    print("only in", "before" if k in a else "after", k)
for k in diff:
    print("DIFFERENT", k)
for k in sorted(same):
    print("same", hashlib.sha256(a[k]).hexdigest()[:12], len(a[k].splitlines()) - 1, "rows", k)
