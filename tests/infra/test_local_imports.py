"""The local stack's processes never load the CDK: importing it costs about a second and a Node.js process."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_no_module_of_the_local_stack_imports_the_cdk() -> None:
    modules = sorted(
        "infra.local." + ".".join(p.relative_to(REPO / "infra" / "local").with_suffix("").parts)
        for p in (REPO / "infra" / "local").rglob("*.py")
    )
    assert len(modules) > 10
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aws_cdk', 'jsii', 'constructs')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
