"""The vague messages of issue 13, each now one short message naming the option and the fix, before any request."""

from kmetal_tasks import bad_input, task


def test_a_dictionary_given_as_a_word_names_the_option(play, uniq):
    results, run = bad_input(play, "tenant", [({"name": "q-" + uniq, "quota": "cpu"}, None)])
    assert results[0]["failed"] and "quota: 'cpu' is not a dictionary" in results[0]["msg"], results[0]["msg"]
    assert run.requests == 0


def test_empty_bootstrap_server_address_says_so(play, namespace):
    results, run = bad_input(play, "tenant_cluster", [({"bootstrap_server_address": ""}, None)], name="c", namespace=namespace, version="v1.34.1")
    msg = results[0]["msg"]
    assert "bootstrap_server_address: is empty" in msg and "bootstrapConfig" not in msg, msg
    assert run.requests == 0


def test_a_huge_name_gives_a_short_message(play):
    results, run = bad_input(play, "tenant", [({"name": "a" * 10000}, None)])
    msg = results[0]["msg"]
    assert results[0]["failed"] and "name:" in msg and "10000 characters" in msg and len(msg) < 600, len(msg)
    fleet = play([task("tenant_fleet", tenants=[{"name": "b" * 10000}], ignore_errors=True)])
    assert fleet[0]["failed"] and "10000 characters" in fleet[0]["msg"] and len(fleet[0]["msg"]) < 1500, len(fleet[0]["msg"])
    assert run.requests == 0 and fleet.requests == 0


def test_words_for_integers_say_not_an_integer(play, namespace, uniq):
    subnet, run = bad_input(play, "subnet", [({"mtu": "abc"}, None)], name="s-" + uniq, vpc="v", cidr=["10.0.0.0/24"])
    assert "mtu: 'abc' is not an integer" in subnet[0]["msg"] and "out of range" not in subnet[0]["msg"], subnet[0]["msg"]
    cluster, run2 = bad_input(play, "tenant_cluster", [({"workers": [{"name": "md", "replicas": "two"}]}, None)], name="c", namespace=namespace,
                              version="v1.34.1")
    assert "workers[0].replicas: 'two' is not an integer" in cluster[0]["msg"] and "out of range" not in cluster[0]["msg"], cluster[0]["msg"]
    fleet = play([task("tenant_fleet", tenants=[{"name": "w-" + uniq, "subnets": [{"name": "w-%s-a" % uniq, "cidr": ["10.0.0.0/24"], "mtu": "abc"}]}],
                       ignore_errors=True)])
    assert "subnets[0]: mtu: 'abc' is not an integer" in fleet[0]["msg"], fleet[0]["msg"]
    assert run.requests == 0 and run2.requests == 0 and fleet.requests == 0


def test_vlan_id_out_of_range_is_one_problem(play, uniq):
    results, run = bad_input(play, "subnet", [({"mode": "vlan", "vlan": {"id": 5000, "provider": "data"}}, None)],
                             name="s-" + uniq, vpc="v", cidr=["10.0.0.0/24"])
    msg = results[0]["msg"]
    assert "vlan.id: 5000 is out of range" in msg and "vlanNone" not in msg and len(results[0]["problems"]) == 1, results[0]
    assert run.requests == 0
