"""What the docs claim, checked against what the code, the roles and the stored benchmark say.

The docs are README.md, docs/*.md and roles/*/README.md (docs/reference/ is generated and has a test of
its own). Each test reads a kind of claim from every doc, so a new claim of that kind is checked too:
links and anchors, variable names, defaults and example values of the roles, module options, the
collection's content and make targets named in commands, mcastd's command-line defaults, and the
benchmark table of docs/mcastd.md, which must be the rendering of docs/bench/bench-mcastd.json.
"""
import ast
import copy
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mcast.linux.plugins.module_utils.mcastd import config as mcastd_config
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import daemon, kernel, mrdisc
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import main as mcastd_main
from tests.bench import bench_mcastd

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / "README.md"] + list((REPO / "docs").glob("*.md")) + list((REPO / "roles").glob("*/README.md")))
ROLES = ("router", "host")


def doc_id(path):
    return str(path.relative_to(REPO))


def text_of(path):
    return path.read_text(encoding="utf-8")


def without_code(text):
    """The prose of a markdown text: fenced code blocks blanked out (line numbers kept)."""
    return re.sub(r"^```.*?^```", lambda match: "\n" * match.group(0).count("\n"), text, flags=re.S | re.M)


def code_blocks(text, language):
    return re.findall(r"^```%s\n(.*?)^```" % language, text, flags=re.S | re.M)


# ---------------------------------------------------------------------------------------------- links
def github_slug(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    slugs, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", without_code(text_of(path)), flags=re.M):
        slug = github_slug(heading)
        slugs.add(slug if slug not in seen else "%s-%d" % (slug, seen[slug]))
        seen[slug] = seen.get(slug, 0) + 1
    return slugs


def local_links(path):
    """(target file, anchor) of every relative link in the prose of ``path``."""
    for target in re.findall(r"\]\(([^)\s]+)\)", without_code(text_of(path))):
        if re.match(r"[a-z]+:", target):
            continue
        name, _hash, anchor = target.partition("#")
        yield (path.parent / name).resolve() if name else path, anchor


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_link_reaches_a_file_and_its_anchor(doc):
    broken = []
    for target, anchor in local_links(doc):
        if not target.exists():
            broken.append("%s (no such file)" % target.relative_to(REPO))
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append("%s#%s (no such heading)" % (target.relative_to(REPO), anchor))
    assert not broken, "%s links to %s" % (doc_id(doc), broken)


# ------------------------------------------------------------------------------- roles and variables
@functools.lru_cache(maxsize=None)
def role_spec(role):
    specs = yaml.safe_load(text_of(REPO / "roles" / role / "meta" / "argument_specs.yml"))
    return specs["argument_specs"]["main"]["options"]


@functools.lru_cache(maxsize=None)
def role_defaults(role):
    return yaml.safe_load(text_of(REPO / "roles" / role / "defaults" / "main.yml")) or {}


def doc_value(text, like=None):
    """A value as a doc writes it, read as YAML unless the real one is a string (`off` stays 'off')."""
    return text if isinstance(like, str) else yaml.safe_load(text)


def validate(spec, values):
    """Error messages of ansible's own argument validation of ``values`` against ``spec``."""
    return ArgumentSpecValidator(copy.deepcopy(spec)).validate(values).error_messages


def validate_one(role, name, value):
    """Errors of one role variable with this value alone (other required variables left out)."""
    spec = dict(role_spec(role)[name], required=False)
    return validate({name: spec}, {name: value})


def role_of(name):
    return "router" if name.startswith("mcast_router_") else "host"


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_and_defaults_agree(role):
    spec, defaults = role_spec(role), role_defaults(role)
    assert set(defaults) <= set(spec), "defaults/main.yml has variables the spec lacks"
    differ = {name: (option.get("default"), defaults.get(name)) for name, option in spec.items()
              if option.get("default") != defaults.get(name)}
    assert not differ, "default in meta/argument_specs.yml vs defaults/main.yml: %s" % differ


@pytest.mark.parametrize("role", ROLES)
def test_the_variables_a_role_knows_are_those_of_its_argument_spec(role):
    """The list the role's typo check uses (vars/main.yml) is the spec's options, in the spec's order."""
    known = yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8"))
    assert known["__mcast_%s_known_variables" % role] == list(role_spec(role))


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_role_variable_a_doc_names_exists(doc):
    named = set(re.findall(r"(?<![\w.])(mcast_(?:router|host)_[a-z0-9_]*[a-z0-9])", text_of(doc)))
    unknown = sorted(name for name in named if name not in role_spec(role_of(name)))
    assert not unknown, "%s names role variables that do not exist: %s" % (doc_id(doc), unknown)


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_value_a_doc_gives_a_role_variable_is_valid(doc):
    """`mcast_router_x: value` in prose and tables: a value the role's argument specification accepts."""
    errors = []
    for name, value in re.findall(r"`(mcast_(?:router|host)_\w+): ([^`]+)`", without_code(text_of(doc))):
        errors += validate_one(role_of(name), name, yaml.safe_load(value))
    assert not errors, "%s: %s" % (doc_id(doc), errors)


def defaults_claimed(text):
    """(variable, value) from the phrase 'by default (`VAR: VALUE`)'."""
    return re.findall(r"by default \(`(mcast_\w+): ([^`]+)`\)", text)


def user_guide_table():
    """(variable, default cell) of each row of the user guide's variable table; `_x` abbreviates mcast_router_x."""
    rows = re.findall(r"^\| (`mcast_router_[^|]+) \| ([^|]+) \| [^|]+ \|$", text_of(REPO / "docs" / "user-guide.md"),
                      flags=re.M)
    assert rows, "the user guide's variable table is gone: update this test"
    for names, defaults in rows:
        names = [name.strip(" `") for name in names.split(",")]
        names = [name if name.startswith("mcast_") else "mcast_router" + name for name in names]
        values = [value.strip(" `") for value in defaults.split(",")]
        assert len(names) == len(values), "row %s has %d defaults" % (names, len(values))
        yield from zip(names, values)


def test_the_user_guide_table_gives_each_variable_its_real_default():
    defaults = role_defaults("router")
    for name, value in user_guide_table():
        if value == "unset":
            assert name not in defaults and "default" not in role_spec("router")[name], name
        else:
            assert defaults[name] == doc_value(value, defaults[name]), "%s: the guide says %s" % (name, value)


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_by_default_means_the_default(doc):
    for name, value in defaults_claimed(text_of(doc)):
        default = role_defaults(role_of(name))[name]
        assert default == doc_value(value, default), "%s: %s" % (doc_id(doc), name)


def test_the_router_sets_only_the_multicast_flag_by_default():
    """roles/router/README.md and the user guide: IFF_MULTICAST only; the kernel raises ALLMULTI on each VIF."""
    assert role_defaults("router")["mcast_router_link_flags"] == ["multicast"]
    assert "by default only `IFF_MULTICAST`" in text_of(REPO / "roles" / "router" / "README.md")


def test_strict_rp_filter_is_not_offered_to_the_router():
    """The router README and user guide: `off` (the default) or `loose`; strict is refused."""
    option = role_spec("router")["mcast_router_rp_filter"]
    assert option["default"] == "off" and "strict" not in option["choices"]


# --------------------------------------------------------------------------------------- examples
def doc_plays():
    """(doc, play) for every YAML play in a doc's code blocks that applies a role of the collection."""
    for doc in DOCS:
        for block in code_blocks(text_of(doc), "yaml"):
            data = yaml.safe_load(block)
            for play in data if isinstance(data, list) else []:
                if isinstance(play, dict) and play.get("roles"):
                    yield doc, play


def doc_inventories():
    for doc in DOCS:
        for block in code_blocks(text_of(doc), "yaml"):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and "all" in data:
                yield doc, data["all"]


def test_the_docs_have_plays_and_inventories():
    assert len(list(doc_plays())) >= 6 and len(list(doc_inventories())) >= 2


@pytest.mark.parametrize("doc,play", list(doc_plays()), ids=lambda item: doc_id(item) if isinstance(item, Path) else "")
def test_every_example_play_becomes_root_and_its_role_accepts_its_variables(doc, play):
    assert play.get("become") is True, "%s: a play of %s lacks become: true (the roles need root)" % (
        doc_id(doc), play.get("hosts"))
    for entry in play["roles"]:
        role = entry["role"].rsplit(".", 1)[-1]
        assert not validate(role_spec(role), entry.get("vars", {})), (doc_id(doc), role)


def inventory_hosts(group, role=None):
    """(role, host variables) of every host under ``group``: routers get the router role, the rest the host role."""
    for name, child in (group.get("children") or {}).items():
        yield from inventory_hosts(child or {}, role or ("router" if name == "routers" else "host"))
    for variables in (group.get("hosts") or {}).values():
        yield role or "host", variables or {}


@pytest.mark.parametrize("doc,inventory", list(doc_inventories()), ids=lambda item: doc_id(item) if isinstance(
    item, Path) else "")
def test_every_example_inventory_becomes_root_and_its_roles_accept_its_variables(doc, inventory):
    assert (inventory.get("vars") or {}).get("ansible_become") is True, doc_id(doc)
    for role, variables in inventory_hosts(inventory):
        ours = dict((name, value) for name, value in variables.items() if name.startswith("mcast_"))
        assert not validate(role_spec(role), ours), (doc_id(doc), role, ours)


# ----------------------------------------------------------------------------------------- modules
@functools.lru_cache(maxsize=None)
def module_options(module):
    """The options of a module's DOCUMENTATION as an argument spec (suboptions renamed options)."""
    source = text_of(REPO / "plugins" / "modules" / ("%s.py" % module))
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION":
            return _as_spec(yaml.safe_load(node.value.value)["options"])
    raise AssertionError("%s has no DOCUMENTATION" % module)


def _as_spec(options):
    spec = {}
    for name, option in options.items():
        option = dict(option, required=False)
        if "suboptions" in option:
            option["options"] = _as_spec(option.pop("suboptions"))
        spec[name] = option
    return spec


def module_claims(text):
    """(module, {option: value}) from "`mcast.linux.MODULE` with `option: value` and `option: value`"."""
    for module, tail in re.findall(r"`mcast\.linux\.(\w+)` with ((?:`[^`]+`(?:, | and | or )?)+)", text):
        pairs = [part.split(": ", 1) for part in re.findall(r"`([^`]+)`", tail) if re.match(r"\w+: ", part)]
        yield module, dict((name, yaml.safe_load(value)) for name, value in pairs)
    for module, arguments in re.findall(r"-m mcast\.linux\.(\w+) -a \"([^\"]*)\"", text):
        yield module, dict(pair.split("=", 1) for pair in arguments.split())


def test_the_docs_name_module_options():
    assert sum(len(list(module_claims(text_of(doc)))) for doc in DOCS) >= 10


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_module_option_a_doc_gives_exists_and_takes_that_value(doc):
    errors = []
    for module, values in module_claims(text_of(doc)):
        errors += ["mcast.linux.%s: %s" % (module, error) for error in validate(module_options(module), values)]
    assert not errors, "%s: %s" % (doc_id(doc), errors)


def test_the_facts_options_the_troubleshooting_guide_quotes_have_those_defaults():
    text = text_of(REPO / "docs" / "troubleshooting.md")
    options = module_options("facts")
    assert "`sample_interval` (%s s)" % options["sample_interval"]["default"] in text
    assert "from %d VIFs (the facts option `vif_warning`)" % options["vif_warning"]["default"] in text


def test_the_lab_sends_to_as_many_groups_as_the_user_guide_says():
    numbers = {"four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    said = re.search(r"sends numbered datagrams to (\w+) groups", text_of(REPO / "docs" / "user-guide.md")).group(1)
    plan = yaml.safe_load(text_of(REPO / "playbooks" / "vars" / "lab.yml"))
    assert numbers[said] == len(plan["lab_probe_groups"])


# ------------------------------------------------------------------- collection content and commands
def content_names():
    names = {path.stem for path in (REPO / "plugins" / "modules").glob("*.py")}
    names |= {path.stem for path in (REPO / "plugins" / "connection").glob("*.py")}
    names |= {path.parent.parent.name for path in (REPO / "roles").glob("*/meta/main.yml")}
    return names | playbook_names()


def playbook_names():
    return {path.stem for path in (REPO / "playbooks").glob("*.yml")}


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_mcast_linux_name_is_in_the_collection(doc):
    named = set(re.findall(r"(?<![/\w])mcast\.linux\.(\w+)", text_of(doc)))  # not the repository's URL
    assert named <= content_names(), "%s: no such module, role or playbook: %s" % (doc_id(doc), named - content_names())


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_playbook_a_command_runs_exists(doc):
    run = set(re.findall(r"ansible-playbook [^\n]*?mcast\.linux\.(\w+)", text_of(doc)))
    assert run <= playbook_names(), "%s runs playbooks that do not exist: %s" % (doc_id(doc), run - playbook_names())


def test_the_readme_shows_the_four_commands_of_a_new_user():
    commands = re.findall(r"^ansible-playbook -i inventory\.yml mcast\.linux\.(\w+)(.*?)#", text_of(REPO / "README.md"),
                          flags=re.M)
    assert [(name, flags.strip()) for name, flags in commands] == [
        ("router", "--check --diff"), ("router", ""), ("host", ""), ("compliance", "")]


@pytest.mark.parametrize("doc", ["README.md", "docs/user-guide.md"])
def test_the_ansible_core_versions_a_doc_names_are_the_required_and_the_tested_one(doc):
    required = re.search(r'requires_ansible: ">=(\d+\.\d+)', text_of(REPO / "meta" / "runtime.yml")).group(1)
    tested = re.search(r"^ansible-core==(\d+\.\d+)", text_of(REPO / "tests" / "requirements.txt"), flags=re.M).group(1)
    text = " ".join(text_of(REPO / doc).split())
    assert re.search(r"ansible-core %s or newer \S* ?\(?[^)]*tested with %s\)" % (
        re.escape(required), re.escape(tested)), text), doc


def target_minimums():
    """The oldest Python and pyroute2 the roles accept on a target (roles/host/tasks/packages.yml)."""
    tasks = text_of(REPO / "roles" / "host" / "tasks" / "packages.yml")
    return dict(re.findall(r'__mcast_min_(python|pyroute2): "([\d.]+)"', tasks))


@pytest.mark.parametrize("doc", ["README.md", "docs/user-guide.md", "roles/router/README.md", "roles/host/README.md"])
def test_the_target_versions_a_doc_names_are_the_ones_the_roles_check(doc):
    text = " ".join(text_of(REPO / doc).split())
    said = dict((name, re.findall(r"%s ([\d.]+) or newer" % spelled, text))
                for name, spelled in (("python", "Python"), ("pyroute2", "pyroute2")))
    assert any(said.values()), "%s names no target version: update this test" % doc
    for name, versions in said.items():
        assert set(versions) <= {target_minimums()[name]}, "%s: %s %s" % (doc, name, versions)


def test_the_readme_layout_lists_every_module():
    listed = re.search(r"^plugins/modules/ +(.+)$", text_of(REPO / "README.md"), flags=re.M).group(1)
    modules = {path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__"}
    assert set(listed.split(", ")) == modules


def make_targets():
    return set(re.findall(r"^([a-z][\w-]*):", text_of(REPO / "Makefile"), flags=re.M))


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_make_target_a_doc_names_exists(doc):
    named = set(re.findall(r"`make ([a-z][\w-]*)", text_of(doc)))
    named |= set(re.findall(r"^make ([a-z][\w-]*)", "\n".join(code_blocks(text_of(doc), "sh")), flags=re.M))
    assert named <= make_targets(), "%s: no such make target: %s" % (doc_id(doc), named - make_targets())


# ------------------------------------------------------------------------------------------- mcastd
def test_the_mcastd_option_table_gives_the_real_defaults():
    text = text_of(REPO / "docs" / "mcastd.md")
    table = dict(re.findall(r"^\| `(-\w), [^`]+` \| `([^`]+)` \|", text, flags=re.M))
    parsed = mcastd_main.parse_args([])
    real = {"-f": parsed.config, "-u": parsed.socket, "-p": parsed.pidfile, "-l": parsed.log_level,
            "-c": parsed.cache_timeout, "-m": parsed.mrdisc_interval}
    assert table == dict((option, str(value)) for option, value in real.items())


WORDS = {2: "two", 3: "three", 4: "four"}
# (doc, the phrase it must contain, built from the constant that makes it true)
CONSTANT_CLAIMS = [
    ("docs/mcastd.md", "every rescan (%d s)" % daemon.LINK_RESCAN_INTERVAL),
    ("docs/mcastd.md", "%d MiB receive buffer" % (kernel.UPCALL_BUFFER >> 20)),
    ("docs/mcastd.md", "| all 1,000 learned: %d MiB buffer" % (kernel.UPCALL_BUFFER >> 20)),
    ("docs/mcastd.md", "%s at random intervals of up to %g s" % (
        WORDS[mrdisc.MAX_INITIAL_ADVERTISEMENTS], mrdisc.MAX_INITIAL_ADVERTISEMENT_INTERVAL)),
    ("docs/mcastd.md", "plus or minus %g %%" % (mrdisc.JITTER_FACTOR * 100)),
    ("docs/mcastd.md", "at most %d advertisements per second and interface" % mrdisc.MAX_MESSAGE_RATE),
    ("docs/mcastd.md", "RFC 4286's AdvertisementInterval, %d-%d" % (mrdisc.MIN_INTERVAL, mrdisc.MAX_INTERVAL)),
    ("docs/mcastd.md", "**VIF limit**: %d per namespace" % mcastd_config.MAX_VIFS),
    ("docs/troubleshooting.md", "The kernel offers %d VIFs per multicast routing table" % mcastd_config.MAX_VIFS),
]


@pytest.mark.parametrize("doc,phrase", CONSTANT_CLAIMS)
def test_the_figures_the_docs_give_of_mcastd_are_its_constants(doc, phrase):
    assert phrase in " ".join(text_of(REPO / doc).split()), "%s no longer says: %s" % (doc, phrase)


def mcastd_unit(tmp_path):
    """The unit mcast.linux.mcastd writes with its defaults, as a file."""
    from ansible_collections.mcast.linux.plugins.modules import mcastd
    path = tmp_path / "mcastd.service"
    path.write_text(mcastd.render_unit({"libdir": "/usr/lib/mcastd", "config": "/etc/mcastd/mcastd.conf",
                                        "socket": "/run/mcastd/mcastd.sock"}), encoding="utf-8")
    return path


def test_the_unit_does_not_restart_on_the_exit_codes_the_doc_names(tmp_path):
    unit = text_of(mcastd_unit(tmp_path))
    prevented = re.search(r"^RestartPreventExitStatus=(.*)$", unit, flags=re.M).group(1).split()
    assert "The unit does not restart on %s and %s" % (", ".join(prevented[:-1]), prevented[-1]) in text_of(
        REPO / "docs" / "mcastd.md")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_unit_hardening_score_is_the_one_the_doc_gives(tmp_path):
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(mcastd_unit(tmp_path))],
                            capture_output=True, text=True, check=False, timeout=60)
    score = re.search(r"Overall exposure level for mcastd.service: ([\d.]+ \w+)", result.stdout)
    assert score, result.stdout[-2000:] + result.stderr[-2000:]
    assert "| 8.9 EXPOSED | %s |" % score.group(1) in text_of(REPO / "docs" / "mcastd.md")


# ---------------------------------------------------------------------------------------- benchmark
def bench_record():
    return json.loads(text_of(REPO / "docs" / "bench" / "bench-mcastd.json"))


def docs_bench_table():
    text = text_of(bench_mcastd.DOC)
    assert text.count(bench_mcastd.DOC_BEGIN) == 1 and text.count(bench_mcastd.DOC_END) == 1
    return text.split(bench_mcastd.DOC_BEGIN)[1].split(bench_mcastd.DOC_END)[0].strip("\n")


def test_the_benchmark_table_is_the_stored_run():
    assert docs_bench_table() == bench_mcastd.markdown_table(bench_record())


@pytest.mark.parametrize("ours,theirs,shown", [
    (218, 28, "7.8"), (0.089, 17.617, "0.0051"), (1000, 663, "1.5"), (9.96, 1, "10"), (23.6, 2, "12"),
    (0, 48, "0"), (1, 0, "-"), (None, 1.0, "-"), (False, 1.0, "-"), (0.0001, 1, "< 0.001")])
def test_the_table_shows_ratios_to_two_significant_digits(ours, theirs, shown):
    assert bench_mcastd.ratio_text(ours, theirs) == shown


def test_update_docs_rewrites_only_the_table(tmp_path):
    doc = tmp_path / "mcastd.md"
    doc.write_text("before\n%s\nold table\n%s\nafter\n" % (bench_mcastd.DOC_BEGIN, bench_mcastd.DOC_END))
    bench_mcastd.update_docs("| new |", doc)
    assert doc.read_text() == "before\n%s\n| new |\n%s\nafter\n" % (bench_mcastd.DOC_BEGIN, bench_mcastd.DOC_END)


def test_update_docs_refuses_a_doc_without_markers(tmp_path):
    doc = tmp_path / "mcastd.md"
    doc.write_text("no markers\n")
    with pytest.raises(SystemExit, match="lacks the markers"):
        bench_mcastd.update_docs("| new |", doc)
    assert doc.read_text() == "no markers\n"


def test_the_prose_around_the_benchmark_quotes_the_stored_run():
    record, text = bench_record(), text_of(REPO / "docs" / "mcastd.md")
    mcastd, smcroute = record["mcastd"], record["smcroute"]

    def growth(results, suffix):
        return results["load10k" + suffix] / results["load2k" + suffix]
    assert "take %.1f\ntimes as long as 2,000 for IPv4, %.1f times for IPv6" % (
        growth(mcastd, ""), growth(mcastd, "6")) in text
    assert "(%.0f and %.0f times; 25 would be quadratic)" % (growth(smcroute, ""), growth(smcroute, "6")) in text
    assert "| %d of {:,} learned in the [benchmark](#benchmark)".format(record["burst_sources"]) % (
        smcroute["burst"][0]) in text
    assert "all {:,} learned".format(mcastd["burst"][0]) in text
    assert "smcroute %s (Debian 12)" % record["smcroute_version"].split("-")[0] in text
    # "at full sending speed ... mcastd loses more datagrams at a flow's start" (IPv4); nothing with IPv6's (*,G)
    assert mcastd["flowstart"] > smcroute["flowstart"] and mcastd["flowstart6"] == 0
