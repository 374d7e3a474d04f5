# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker_host role's meta/argument_specs.yml documents exactly the variables of defaults/main.yml.

Rules: an optional variable has the same default in both files; a required or conditionally required one
(no ``default`` in the spec) is absent from defaults/main.yml, so it is never both required and defaulted.
Public variables are ``docker_host_*``; what the tasks register or set is internal (``_docker_host_*``).
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

ROLE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "docker_host"
# Not preceded by a word character (_docker_host_* is internal), "." (module names) or YAML anchor marks.
PUBLIC = re.compile(r"(?<![\w.&*])docker_host_[a-z0-9_]+")
# Ansible's own settings the role sets for its control-node tasks (interpreter, async job directory).
ANSIBLE_SETTINGS = {"ansible_python_interpreter", "ansible_async_dir"}


def _load(relative: str):
    with open(ROLE / relative, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def specs() -> dict:
    return _load("meta/argument_specs.yml")["argument_specs"]


@pytest.fixture(scope="module")
def defaults() -> dict:
    return _load("defaults/main.yml")


def test_every_default_is_documented_with_the_same_value(specs, defaults):
    options = specs["main"]["options"]
    assert sorted(set(defaults) - set(options)) == []
    for name, value in defaults.items():
        assert "default" in options[name], f"{name} has a default in defaults/main.yml but not in the spec"
        assert options[name]["default"] == value, f"{name}: spec default differs from defaults/main.yml"


def test_options_without_default_are_not_in_defaults(specs, defaults):
    for name, spec in specs["main"]["options"].items():
        if "default" not in spec:
            assert name not in defaults, f"{name} is documented without default but defaults/main.yml sets one"
        assert not (spec.get("required") and "default" in spec), f"{name} is both required and defaulted"


def test_every_option_is_described_typed_and_public(specs):
    for entry, spec in specs.items():
        assert spec.get("short_description"), entry
        for name, option in spec["options"].items():
            assert name.startswith("docker_host_"), name
            assert option.get("description"), name
            assert option.get("type"), name
            if option["type"] == "list":
                assert option.get("elements"), name


def test_secrets_are_no_log(specs):
    for name, option in specs["main"]["options"].items():
        if re.search(r"password|secret", name):
            assert option.get("no_log") is True, name


def test_other_entry_points_reuse_main_options_verbatim(specs):
    main = specs["main"]["options"]
    for entry, spec in specs.items():
        for name, option in spec["options"].items():
            assert option == main[name], f"entry point {entry}: {name} differs from main"


def _task_files():
    return sorted((ROLE / "tasks").glob("*.yml")) + sorted((ROLE / "templates").glob("*"))


def test_tasks_only_use_documented_public_variables(specs):
    documented = set(specs["main"]["options"])
    used = set()
    for path in _task_files():
        used |= set(PUBLIC.findall(path.read_text(encoding="utf-8")))
    undocumented = sorted(used - documented)
    assert undocumented == [], f"variables used in tasks but not documented: {undocumented}"


def _walk_tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _walk_tasks(task.get(key))


def test_registered_and_set_names_are_internal():
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in _walk_tasks(yaml.safe_load(path.read_text(encoding="utf-8"))):
            names = []
            if "register" in task:
                names.append(task["register"])
            names += list((task.get("ansible.builtin.set_fact") or {}).keys())
            names += list(task.get("vars") or {})
            for name in names:
                if name in ANSIBLE_SETTINGS:
                    continue
                assert name.startswith("_docker_host_"), f"{path.name}: {name} should be _docker_host_*"


def test_every_task_is_named():
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        for task in _walk_tasks(yaml.safe_load(path.read_text(encoding="utf-8"))):
            assert task.get("name"), f"{path.name}: a task without name: {sorted(task)}"
