# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates: one docker_tls_certs task against the community.crypto chain (10 tasks).

Cold = an empty directory; warm = the same playbook again on what the cold run wrote (a no-op for
both, checked: a warm run that changes anything is reported). Each repetition runs every
configuration once, interleaved, so machine noise spreads over all of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ansible_collections.dockerhost.azure.benchmarks import harness
from ansible_collections.dockerhost.azure.benchmarks.stats import ratio, summary

__all__ = ["COMPARISONS", "CONFIGS", "run"]

_COMMON = {"server_name": "bench-host", "hostnames": ["bench-host.example.test"], "ip_addresses": ["127.0.0.1"]}

# name -> (side, playbook, key variables, label). "default" configurations pass no key option at all.
CONFIGS = {
    "ours_default": ("ours", "certs_ours.yml", {}, "docker_tls_certs, its defaults"),
    "ours_rsa4096": ("ours", "certs_ours.yml", {"key_type": "rsa", "key_size": 4096}, "docker_tls_certs, RSA 4096"),
    "ref_ecdsa": (
        "reference",
        "certs_reference.yml",
        {"key_type": "ECC", "key_curve": "secp256r1"},
        "community.crypto chain, ECDSA P-256",
    ),
    "ref_default": ("reference", "certs_reference.yml", {}, "community.crypto chain, its defaults"),
}

# (title, ours config, reference config, counts for the 3x target)
COMPARISONS = [
    ("Same key type: ECDSA P-256", "ours_default", "ref_ecdsa", True),
    ("Same key type: RSA 4096", "ours_rsa4096", "ref_default", True),
    ("Each with its own defaults", "ours_default", "ref_default", False),
]


def _describe_key(path: str, python: str) -> str:
    """Key type of a PEM private key, read with the .venv's cryptography (not the tool under test)."""
    code = (
        "import sys\n"
        "from cryptography.hazmat.primitives.serialization import load_pem_private_key\n"
        "from cryptography.hazmat.primitives.asymmetric import ec, rsa\n"
        "k = load_pem_private_key(open(sys.argv[1], 'rb').read(), None)\n"
        "print(f'RSA {k.key_size}' if isinstance(k, rsa.RSAPrivateKey) else\n"
        "      f'ECDSA {k.curve.name}' if isinstance(k, ec.EllipticCurvePrivateKey) else type(k).__name__)\n"
    )
    out = subprocess.run([python, "-c", code, path], capture_output=True, text=True, check=False)
    return out.stdout.strip() or f"unreadable ({out.stderr.strip()[-200:]})"


def _sides() -> dict:
    return {"ours": harness.ours(), "reference": harness.reference()}


def run(reps: int, log) -> dict:
    """Measure every configuration ``reps`` times, cold and warm; returns the section's results."""
    if not harness.module_present("docker_tls_certs"):
        return {"status": "not_measured", "reason": "module docker_tls_certs is not in plugins/modules yet"}
    sides = _sides()
    missing = [s.name for s in sides.values() if not s.available()]
    if missing:
        return {"status": "not_measured", "reason": f"no ansible-playbook for: {', '.join(missing)}"}

    root = harness.work_dir("certs")
    samples = {name: {"cold": [], "warm": [], "cold_tasks": [], "warm_tasks": []} for name in CONFIGS}
    warm_changes: dict[str, int] = {}
    key_types: dict[str, str] = {}
    try:
        # One untimed run per side first: byte-compiles and pages in each venv, so rep 1 is not special.
        for side_name, playbook in (("ours", "certs_ours.yml"), ("reference", "certs_reference.yml")):
            harness.run_playbook(
                sides[side_name],
                playbook,
                extra_vars={**_COMMON, "cert_dir": os.path.join(root, f"warmup-{side_name}")},
            )
        for rep in range(reps):
            for name, (side_name, playbook, key_vars, _label) in CONFIGS.items():
                cert_dir = os.path.join(root, f"{name}-{rep}")
                variables = {**_COMMON, **key_vars, "cert_dir": cert_dir}
                for phase in ("cold", "warm"):
                    result = harness.run_playbook(sides[side_name], playbook, extra_vars=variables)
                    samples[name][phase].append(result.wall)
                    samples[name][f"{phase}_tasks"].append(result.task_time())
                    if phase == "warm":
                        changed = sum(1 for t in result.tasks if t["changed"])
                        warm_changes[name] = warm_changes.get(name, 0) + changed
                # Both write the CA key as ca-key.pem: report the key type each configuration really used.
                key_types[name] = _describe_key(os.path.join(cert_dir, "ca-key.pem"), harness.ours().python)
                log(
                    f"certs rep {rep + 1}/{reps} {name}: cold {samples[name]['cold'][-1]:.2f}s "
                    f"warm {samples[name]['warm'][-1]:.2f}s"
                )
                shutil.rmtree(cert_dir, ignore_errors=True)
    except harness.BenchError as exc:
        return {"status": "failed", "reason": str(exc)}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    configs = {
        name: {
            "label": CONFIGS[name][3],
            "side": CONFIGS[name][0],
            "key_type": key_types.get(name, "?"),
            "tasks_in_playbook": 1 if CONFIGS[name][0] == "ours" else 10,
            "warm_changed_tasks": warm_changes.get(name, 0),
            **{phase: summary(values) for phase, values in samples[name].items()},
        }
        for name in CONFIGS
    }
    comparisons = []
    for title, mine, theirs, counts in COMPARISONS:
        comparisons.append(
            {
                "title": title,
                "ours": mine,
                "reference": theirs,
                "counts_for_target": counts,
                "cold_ratio": ratio(configs[theirs]["cold"], configs[mine]["cold"]),
                "warm_ratio": ratio(configs[theirs]["warm"], configs[mine]["warm"]),
            }
        )
    return {"status": "measured", "reps": reps, "configs": configs, "comparisons": comparisons}
