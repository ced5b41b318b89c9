"""GPU passthrough's hardware checks on this machine (a microVM without IOMMU groups): preflight's facts and rules,
and host_prep's vfio-pci binding in check mode, skip with the reason printed instead of failing or writing."""

import json
import os
import subprocess

import yaml

import kmetal_platform_helpers as c

GPUS = [{"address": "0000:3b:00.0", "selector": "10de:2236", "resource": "nvidia.com/GA102GL_A10"}]


def run(tmp_path, tasks, check=False, **extra):
    book = tmp_path / "gpu.yml"
    book.write_text(yaml.safe_dump([{"name": "gpu checks", "hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "vars": dict({"kmetal_gpu_devices": GPUS, "ansible_python_interpreter": "{{ ansible_playbook_python }}"}, **extra),
                                     "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(c.REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false")
    cmd = ["ansible-playbook", "-i", "localhost,", str(book)] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=c.REPO, timeout=300)
    doc = json.loads(proc.stdout)
    # task names without the role prefix ("kmetal.platform.host_prep : ") that the callback may add
    return proc.returncode, {t["task"]["name"].split(" : ", 1)[-1]: t["hosts"]["localhost"] for p in doc["plays"] for t in p["tasks"]}


def test_preflight_skips_the_gpu_checks_with_the_reason(tmp_path):
    rc, results = run(tmp_path, [
        {"name": "facts", "ansible.builtin.include_role": {"name": "kmetal.platform.preflight", "tasks_from": "facts.yml"}},
        {"name": "rules", "ansible.builtin.set_fact": {
            "found": "{{ {'control_plane_count': 1, 'allow_missing_kvm': allow} | kmetal.platform.preflight_problems([preflight_host]) }}"}},
        {"name": "print", "ansible.builtin.debug": {"var": "found"}},
    ], allow=True)
    assert rc == 0
    found = results["print"]["found"]
    gpu = [w for w in found["warnings"] if "GPU" in w]
    assert gpu, found
    # this machine: no IOMMU groups (a microVM) - or, where it runs in a container, that reason
    assert "the kernel has no IOMMU groups" in gpu[0] or "GPU passthrough checks skipped: it is a container" in gpu[0]
    print("\n".join(gpu))


def test_preflight_refuses_missing_iommu_on_a_server(tmp_path):
    rc, results = run(tmp_path, [
        {"name": "facts", "ansible.builtin.include_role": {"name": "kmetal.platform.preflight", "tasks_from": "facts.yml"}},
        {"name": "rules", "ansible.builtin.set_fact": {
            "found": "{{ {'control_plane_count': 1, 'allow_missing_kvm': false} | kmetal.platform.preflight_problems([preflight_host]) }}"}},
        {"name": "print", "ansible.builtin.debug": {"var": "found"}},
    ])
    found = results["print"]["found"]
    assert any("kmetal_gpu_devices (0000:3b:00.0) cannot be passed to VMs: set host_prep_iommu: true" in e for e in found["errors"]) \
        or any("it is a container" in w for w in found["warnings"])


def test_host_prep_binding_is_skipped_with_the_reason_and_writes_nothing(tmp_path):
    rc, results = run(tmp_path, [
        {"name": "facts", "ansible.builtin.setup": {"gather_subset": ["min", "virtual"]}},
        {"name": "vfio", "ansible.builtin.include_role": {"name": "kmetal.platform.host_prep", "tasks_from": "vfio.yml"}},
    ], check=True)
    assert rc == 0
    skipped = results["Host prep | vfio-pci binding skipped"]
    assert "not bound to vfio-pci on localhost" in skipped["msg"]
    assert "no IOMMU groups" in skipped["msg"] or "it is a container" in skipped["msg"]
    assert results["Host prep | bind the named devices to vfio-pci now"].get("skipped") is True
    assert not os.path.exists("/etc/udev/rules.d/60-kmetal-vfio.rules")  # check mode
