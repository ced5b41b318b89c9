"""Every step of every role is addressable by tags (`--tags <role>` and `--tags <role>:<step>`), from the command
line and from AWX job tags: site.yml's tags and tasks are listed the way an operator would list them."""

import re

import pytest
import yaml
from awx_helpers import COLLECTION, REPO, VENV_BIN, run

ROLES = COLLECTION / "roles"
# roles/tenants is being reworked by another change; its steps get their tags with it (three import_tasks lines).
PENDING: dict = {}


def role_steps(role):
    """The steps of ROLE: each import_tasks/include_tasks of tasks/main.yml by its file name, a direct task by the
    step tag it must carry (there is one: host_prep's fact gathering)."""
    steps = set()

    def walk(tasks):
        for task in tasks:
            if "block" in task:
                walk(task["block"])
                continue
            for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks", "import_tasks", "include_tasks"):
                if key in task:
                    ref = task[key] if isinstance(task[key], str) else task[key]["file"]
                    steps.add(ref.rsplit("/", 1)[-1].removesuffix(".yml"))
                    break
            else:
                own = [t.split(":", 1)[1] for t in task.get("tags", []) if t.startswith(role + ":")]
                steps.add(own[0] if own else "<untagged task %r>" % task.get("name"))

    walk(yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text()))
    return steps


# Controller-side tools that site.yml does not run: each is run by its own playbook (kmetal.platform.<role>).
OWN_PLAYBOOK = {"artifacts", "mirror"}


def playbook_of(role):
    return ROLES.parent / "playbooks" / f"{role}.yml" if role in OWN_PLAYBOOK else "site.yml"


def site_tasks(playbook="site.yml"):
    """(role, task name, tags) of every task PLAYBOOK lists, from `ansible-playbook --list-tasks`."""
    out = run([VENV_BIN / "ansible-playbook", "-i", REPO / "inventories" / "lab" / "hosts.yml", playbook, "--list-tasks"]).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s+kmetal\.platform\.(\w+) : (.*)\tTAGS: \[(.*)\]$", line)
        if m:
            rows.append((m.group(1), m.group(2), {t.strip() for t in m.group(3).split(",") if t.strip()}))
    return rows


def list_tags(playbook):
    out = run([VENV_BIN / "ansible-playbook", "-i", REPO / "inventories" / "lab" / "hosts.yml", playbook, "--list-tags"]).stdout
    tags = set()
    for m in re.finditer(r"TASK TAGS: \[(.*)\]", out):
        tags |= {t.strip() for t in m.group(1).split(",") if t.strip()}
    return tags, site_tasks(playbook)


@pytest.fixture(scope="module")
def listed():
    cache = {}

    def of(role):
        playbook = playbook_of(role)
        if playbook not in cache:
            cache[playbook] = list_tags(playbook)
        return cache[playbook]
    return of


def roles_in_site(rows):
    return sorted({role for role, _, _ in rows})


def test_site_runs_every_role():
    rows = site_tasks()
    roles = {p.name for p in ROLES.iterdir() if (p / "tasks" / "main.yml").exists()}
    assert set(roles_in_site(rows)) == roles - OWN_PLAYBOOK
    for role in OWN_PLAYBOOK:
        assert {r for r, _, _ in site_tasks(playbook_of(role))} >= {role}


@pytest.mark.parametrize("role", sorted(p.name for p in ROLES.iterdir() if (p / "tasks" / "main.yml").exists()))
def test_every_step_of_the_role_is_addressable(role, listed, request):
    if role in PENDING:
        request.applymarker(pytest.mark.xfail(strict=True, reason=PENDING[role]))
    tags, rows = listed(role)
    steps = role_steps(role)
    wanted = {role} | {"%s:%s" % (role, s) for s in steps}
    assert wanted <= tags, "%s --list-tags lacks %s" % (playbook_of(role), sorted(wanted - tags))
    # every task of the role (bar the argument-spec validation, tagged always) carries the role's tag and exactly
    # one step tag, so `--tags <role>:<step>` selects whole steps and nothing is left out of `--tags <role>`
    tasks = [(name, t) for r, name, t in rows if r == role and not name.startswith("Validating arguments against arg spec")]
    assert tasks
    for name, task_tags in tasks:
        assert role in task_tags, "%s: %r has tags %s" % (role, name, sorted(task_tags))
        step_tags = {t for t in task_tags if t.startswith(role + ":")}
        assert len(step_tags) == 1 and step_tags <= wanted, "%s: %r has step tags %s" % (role, name, sorted(step_tags))
    assert {t for _, task_tags in tasks for t in task_tags if t.startswith(role + ":")} == wanted - {role}


def test_a_step_tag_selects_only_that_step():
    out = run([VENV_BIN / "ansible-playbook", "-i", REPO / "inventories" / "lab" / "hosts.yml", "site.yml", "--list-tasks",
               "--tags", "host_network:apply"]).stdout
    names = re.findall(r"\s+kmetal\.platform\.(\w+) : (.*)\tTAGS: \[(.*)\]", out)
    selected = [(r, n) for r, n, t in names if "always" not in t]
    assert selected and all(r == "host_network" for r, _ in selected)
    assert all("host_network:apply" in t for _, _, t in names if "always" not in t)
