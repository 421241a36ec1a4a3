"""The values.yaml contract: every field and every cross-field rule gives one exact, located message."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_DATA = Path(__file__).resolve().parent.parent / "data" / "valid"

F = "services/Shop/Cart/values.yaml"


def problems_of(repo, body: str) -> list[str]:
    """Problems of Shop.Cart whose values.yaml is `app/server/template` (lines 1-3) followed by ``body``."""
    repo.service("Shop", "Cart", body)
    return repo.problems()


FIELD_CASES = [
    # (body starting at line 4, expected problems)
    ("servants:\n  - name: A\n    port: 70000\n", [f"{F}:6:11: servants[0].port: 70000 is greater than 65535"]),
    ("servants:\n  - name: A\n    port: 0\n", [f"{F}:6:11: servants[0].port: 0 is less than 1"]),
    ("servants:\n  - name: A\n    port: '80'\n", [f"{F}:6:11: servants[0].port: expected an integer, got string '80'"]),
    ("servants:\n  - name: 1A\n    port: 80\n",
     [f"{F}:5:11: servants[0].name: '1A' is invalid: expected a letter, then up to 62 letters and digits"]),
    ("servants:\n  - name: A\n", [f"{F}:5:5: servants[0]: missing required key 'port'"]),
    ("servants:\n  - {name: A, port: 1, thread: 100}\n", [f"{F}:5:32: servants[0].thread: 100 is greater than 99"]),
    ("servants:\n  - {name: A, port: 1, capacity: 3000001}\n",
     [f"{F}:5:34: servants[0].capacity: 3000001 is greater than 3000000"]),
    ("servants:\n  - {name: A, port: 1, connection: 0}\n", [f"{F}:5:36: servants[0].connection: 0 is less than 1"]),
    ("servants:\n  - {name: A, port: 1, timeout: -2}\n", [f"{F}:5:33: servants[0].timeout: -2 is less than -1"]),
    ("servants:\n  - {name: A, port: 1, isTars: 'yes'}\n",
     [f"{F}:5:32: servants[0].isTars: expected a boolean (true/false), got string 'yes'"]),
    ("servants:\n  - {name: A, port: 1, isTcp: 1}\n",
     [f"{F}:5:31: servants[0].isTcp: expected a boolean (true/false), got number 1"]),
    ("servants:\n  - {name: A, port: 1, threads: 2}\n",
     [f"{F}:5:24: servants[0].threads: unknown key; did you mean thread?"]),
    ("replicaz: 2\n", [f"{F}:4:1: replicaz: unknown key; did you mean replicas?"]),
    ("hostnetwork: true\n", [f"{F}:4:1: hostnetwork: unknown key; did you mean hostNetwork?"]),
    ("replicas: 100\n", [f"{F}:4:11: replicas: 100 is greater than 99"]),
    ("replicas: -1\n", [f"{F}:4:11: replicas: -1 is less than 0"]),
    ("subtype: grpc\n", [f"{F}:4:10: subtype: 'grpc' is not one of 'tars', 'normal'"]),
    ("profile: 3\n", [f"{F}:4:10: profile: expected a string, got number 3"]),
    ("hostNetwork: 'no'\n", [f"{F}:4:14: hostNetwork: expected a boolean (true/false), got string 'no'"]),
    ("hostIPC: null\n", [f"{F}:4:10: hostIPC: expected a boolean (true/false), got null"]),
    ("envVars:\n  - name: 'A B'\n    value: x\n",
     [f"{F}:5:11: envVars[0].name: 'A B' is invalid: expected 1-63 letters, digits, '-', '.', '_', not starting with a digit"]),
    ("envVars:\n  - name: A\n    value: [1]\n",
     [f"{F}:6:12: envVars[0].value: expected a string or a number or a boolean (true/false), got a list"]),
    ("hostPorts:\n  - {nameRef: A, port: 65536}\n", [f"{F}:5:15: hostPorts[0].nameRef: 'A' names no servant of this service",
                                                    f"{F}:5:24: hostPorts[0].port: 65536 is greater than 65535"]),
    ("repo:\n  image: Docker.io/X\n",
     [f"{F}:5:10: repo.image: 'Docker.io/X' is invalid: expected an image reference: a lower-case name such as reg.io/team/app, optionally with a lower-case :tag (the TServer takes no digest, upper case or '_')"]),
    ("repo:\n  secret: My_Secret\n",
     [f"{F}:5:11: repo.secret: 'My_Secret' is invalid: expected a DNS-1123 secret name: lower-case letters, digits, '-', '.'"]),
    ("repo:\n  id: -bad\n", [f"{F}:5:7: repo.id: '-bad' is invalid: expected a release id: letters, digits, '-', '_', "
                            "'.', starting and ending with a letter or digit (empty: unset)"]),
    ("config:\n  - name: a.conf\n", [f"{F}:5:5: config[0]: missing required key 'content'"]),
    ("appConfig:\n  - {name: 'a conf', content: x}\n",
     [f"{F}:5:12: appConfig[0].name: 'a conf' is invalid: expected letters, digits, '-', '.', '_'; starts and ends with a letter or digit"]),
    ("nodeConfig:\n  - {name: a, podSeq: 99, content: x}\n", [f"{F}:5:23: nodeConfig[0].podSeq: 99 is greater than 98",
                                                         f"{F}:5:12: nodeConfig[0].name: 'a' has no config of the same name; a per-pod config needs a master entry in config"]),
    ("mounts:\n  - name: m\n    mountPath: data\n    source: {emptyDir: {}}\n",
     [f"{F}:6:16: mounts[0].mountPath: 'data' is invalid: expected an absolute path"]),
    ("mounts:\n  - name: m\n    mountPath: /d\n    source: {hostPath: {path: /x, type: Dir}}\n",
     [f"{F}:7:41: mounts[0].source.hostPath.type: 'Dir' is not one of '', 'Directory', 'DirectoryOrCreate', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'"]),
    ("mounts:\n  - name: m\n    mountPath: /d\n    source: {tLocalVolume: {uid: 1000}}\n",
     [f"{F}:7:34: mounts[0].source.tLocalVolume.uid: expected a string, got number 1000"]),
    ("mounts:\n  - name: m\n    mountPath: /d\n    source: {tLocalVolume: {mode: '999'}}\n",
     [f"{F}:7:35: mounts[0].source.tLocalVolume.mode: '999' is invalid: expected an octal mode as a string, e.g. \"755\""]),
    ("mounts:\n  - name: m\n    mountPath: /d\n    source: {persistentVolumeClaim: {}}\n",
     [f"{F}:7:37: mounts[0].source.persistentVolumeClaim: missing required key 'claimName'"]),
    ("labelMatch:\n  - {key: a, operator: Near}\n",
     [f"{F}:5:24: labelMatch[0].operator: 'Near' is not one of 'In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'"]),
    ("labelMatch:\n  - {key: '-a', operator: Exists}\n",
     [f"{F}:5:11: labelMatch[0].key: '-a' is invalid: expected a Kubernetes label key"]),
    ("resources:\n  limits: {cpu: lots}\n",
     [f"{F}:5:17: resources.limits.cpu: 'lots' is invalid: expected a Kubernetes quantity such as 500m, 1, 256Mi"]),
    ("asyncThread: 51\n", [f"{F}:4:14: asyncThread: 51 is greater than 50"]),
    ("abilityAffinity: Any\n",
     [f"{F}:4:18: abilityAffinity: 'Any' is not one of 'AppRequired', 'ServerRequired', 'AppOrServerPreferred', 'None'"]),
    ("notStacked: 1\n", [f"{F}:4:13: notStacked: expected a boolean (true/false), got number 1"]),
    ("daemonSet: 'true'\n", [f"{F}:4:12: daemonSet: expected a boolean (true/false), got string 'true'"]),
    ("imagePullPolicy: always\n", [f"{F}:4:18: imagePullPolicy: 'always' is not one of 'Always', 'Never', 'IfNotPresent'"]),
    ("launcherType: fg\n", [f"{F}:4:15: launcherType: 'fg' is not one of 'foreground', 'background'"]),
    ("updateStrategy:\n  type: Recreate\n", [f"{F}:5:9: updateStrategy.type: 'Recreate' is not one of 'RollingUpdate', 'OnDelete'"]),
    ("podManagementPolicy: Serial\n", [f"{F}:4:22: podManagementPolicy: 'Serial' is not one of 'OrderedReady', 'Parallel'"]),
    ("dependsOn: [base-hello]\n", [f"{F}:4:13: dependsOn[0]: 'base-hello' is invalid: expected a service id App.Server"]),
    ("dependsOn: Base.Hello\n", [f"{F}:4:12: dependsOn: expected a list, got string 'Base.Hello'"]),
    ("build:\n  type: rust\n", [f"{F}:5:9: build.type: 'rust' is not one of 'cpp', 'nodejs', 'java-war', 'java-jar', 'go', 'php'"]),
    ("build:\n  command: ls\n", [f"{F}:5:12: build.command: expected a list, got string 'ls'"]),
    ("build:\n  files: []\n", [f"{F}:5:10: build.files: must not be an empty list"]),
    ("build:\n  dockerfil: Dockerfile\n", [f"{F}:5:3: build.dockerfil: unknown key; did you mean dockerfile?"]),
]


@pytest.mark.parametrize("body,expected", FIELD_CASES, ids=[c[1][0].split(": ")[1] for c in FIELD_CASES])
def test_field(repo, body, expected):
    assert problems_of(repo, body) == sorted(expected, key=lambda m: tuple(int(x) if x.isdigit() else x for x in m.split(":")[1:3]))


RULE_CASES = [
    ("servants:\n  - {name: HelloObj, port: 1}\n  - {name: helloobj, port: 2}\n",
     [f"{F}:6:12: servants[1].name: duplicate servant name 'helloobj' (names are compared ignoring case; first at servants[0])"]),
    ("servants:\n  - {name: A, port: 10}\n  - {name: B, port: 10}\n",
     [f"{F}:6:21: servants[1].port: duplicate port 10 (also servants[0])"]),
    ("servants:\n  - {name: A, port: 19385}\n", [f"{F}:5:21: servants[0].port: 19385 is reserved by the TARS framework"]),
    ("servants:\n  - {name: A, port: 1}\nhostPorts:\n  - {nameRef: B, port: 80}\n",
     [f"{F}:7:15: hostPorts[0].nameRef: 'B' names no servant of this service"]),
    ("replicas: 2\nconfig:\n  - {name: a, content: x}\nnodeConfig:\n  - {name: a, podSeq: 2, content: x}\n",
     [f"{F}:8:23: nodeConfig[0].podSeq: 2 is not less than replicas (2); no pod has this sequence number"]),
    ("config:\n  - {name: a, content: x}\n  - {name: a, content: y}\n",
     [f"{F}:6:12: config[1].name: duplicate config name 'a' (also config[0])"]),
    ("appConfig:\n  - {name: a, content: x}\n  - {name: a, content: y}\n",
     [f"{F}:6:12: appConfig[1].name: duplicate appConfig name 'a' (also appConfig[0])"]),
    ("replicas: 3\nconfig:\n  - {name: a, content: x}\nnodeConfig:\n  - {name: a, podSeq: 1, content: x}\n  - {name: a, podSeq: 1, content: y}\n",
     [f"{F}:9:23: nodeConfig[1].podSeq: duplicate nodeConfig 'a' for podSeq 1 (also nodeConfig[0])"]),
    ("nodeConfig:\n  - {name: a, podSeq: 0, content: x}\n",
     [f"{F}:5:12: nodeConfig[0].name: 'a' has no config of the same name; a per-pod config needs a master entry in config"]),
    ("mounts:\n  - name: m\n    source: {emptyDir: {}}\n", [f"{F}:5:5: mounts[0]: missing required key 'mountPath'"]),
    ("mounts:\n  - {name: a, mountPath: /d, source: {emptyDir: {}}}\n  - {name: b, mountPath: /d/, source: {emptyDir: {}}}\n",
     [f"{F}:6:26: mounts[1].mountPath: duplicate mountPath '/d/' (also mounts[0])"]),
    ("mounts:\n  - {name: a, mountPath: /d, source: {emptyDir: {}}}\n  - {name: a, mountPath: /e, source: {emptyDir: {}}}\n",
     [f"{F}:6:12: mounts[1].name: duplicate mount name 'a' (also mounts[0])"]),
    ("mounts:\n  - {name: a, mountPath: /d, source: {}}\n",
     [f"{F}:5:38: mounts[0].source: needs exactly one source (hostPath, persistentVolumeClaim, persistentVolumeClaimTemplate, tLocalVolume, emptyDir, configMap, secret); got none"]),
    ("mounts:\n  - {name: a, mountPath: /d}\n",
     [f"{F}:5:5: mounts[0]: missing required key 'source' (one of hostPath, persistentVolumeClaim, persistentVolumeClaimTemplate, tLocalVolume, emptyDir, configMap, secret)"]),
    ("daemonSet: true\nmounts:\n  - {name: a, mountPath: /d, source: {tLocalVolume: {}}}\n",
     [f"{F}:6:39: mounts[0].source.tLocalVolume: tLocalVolume cannot be used with daemonSet: true"]),
    ("mounts:\n  - {name: a, mountPath: /usr/local/app/tars/app_log, source: {emptyDir: {}}}\n",
     [f"{F}:5:26: mounts[0].mountPath: '/usr/local/app/tars/app_log' is where the framework mounts app_log"]),
    ("mounts:\n  - {name: host-log-dir, mountPath: /d, source: {emptyDir: {}}}\n",
     [f"{F}:5:12: mounts[0].name: 'host-log-dir' is the framework's log mount; choose another name"]),
    ("mounts:\n  - {name: a, mountPath: /d, subPath: x, subPathExpr: $(POD), source: {emptyDir: {}}}\n",
     [f"{F}:5:42: mounts[0].subPathExpr: subPath and subPathExpr are mutually exclusive"]),
    ("mounts:\n  - {name: host-log-dir, mountPath: /usr/local/app/tars/app_log/}\n",  # one mount breaking three rules
     [f"{F}:5:5: mounts[0]: missing required key 'source' (one of hostPath, persistentVolumeClaim, "
      "persistentVolumeClaimTemplate, tLocalVolume, emptyDir, configMap, secret)",
      f"{F}:5:12: mounts[0].name: 'host-log-dir' is the framework's log mount; choose another name",
      f"{F}:5:37: mounts[0].mountPath: '/usr/local/app/tars/app_log/' is where the framework mounts app_log"]),
    ("labelMatch:\n  - {key: a, operator: In}\n", [f"{F}:5:5: labelMatch[0]: operator In needs a non-empty 'values' list"]),
    ("labelMatch:\n  - {key: a, operator: NotIn, values: []}\n",
     [f"{F}:5:5: labelMatch[0]: operator NotIn needs a non-empty 'values' list"]),
    ("labelMatch:\n  - {key: a, operator: Exists, values: [x]}\n", [f"{F}:5:40: labelMatch[0].values: operator Exists takes no values"]),
    ("labelMatch:\n  - {key: a, operator: DoesNotExist, values: [x]}\n",
     [f"{F}:5:46: labelMatch[0].values: operator DoesNotExist takes no values"]),
    ("labelMatch:\n  - {key: a, operator: Gt, values: ['1', '2']}\n",
     [f"{F}:5:36: labelMatch[0].values: operator Gt takes exactly one integer value"]),
    ("labelMatch:\n  - {key: a, operator: Lt}\n", [f"{F}:5:5: labelMatch[0]: operator Lt takes exactly one integer value"]),
    ("labelMatch:\n  - {key: a, operator: Lt, values: [x1]}\n",
     [f"{F}:5:37: labelMatch[0].values[0]: operator Lt needs an integer, got 'x1'"]),
    ("envVars:\n  - {name: PodIP, value: x}\n", [f"{F}:5:12: envVars[0].name: 'PodIP' is set by the framework; choose another name"]),
    ("envVars:\n  - {name: A}\n", [f"{F}:5:5: envVars[0]: needs exactly one of 'value' or 'valueFrom'"]),
    ("subtype: normal\nservants:\n  - {name: Http_Port, port: 80}\n",
     [f"{F}:6:12: servants[0].name: 'Http_Port' is invalid for subtype normal: a port name needs at most 15 letters, digits and '-'",
      f"{F}:6:12: servants[0].name: 'Http_Port' is invalid: expected a letter, then up to 62 letters and digits"]),
]


@pytest.mark.parametrize("body,expected", RULE_CASES, ids=[c[1][0].split(": ")[1] + "-" + str(i) for i, c in enumerate(RULE_CASES)])
def test_rule(repo, body, expected):
    assert problems_of(repo, body) == expected


def test_missing_app_server_and_template(repo):
    repo.write("services/X/values.yaml", "profile: ''\n")
    assert repo.problems() == [
        "services/X/values.yaml:1:1: missing required key 'app'",
        "services/X/values.yaml:1:1: missing required key 'server'",
        "services/X/values.yaml:1:1: missing required key 'template' (a TTemplate such as tars.cpp; required for subtype tars)",
    ]


def test_normal_subtype_needs_no_template(repo):
    repo.write("services/X/values.yaml", "app: A\nserver: B\nsubtype: normal\nservants: [{name: http, port: 80}]\n"
                                            "build: {type: go}\n")
    assert repo.problems() == []


def test_build_type_needed_when_template_does_not_tell(repo):
    repo.write("services/X/values.yaml", "app: A\nserver: B\ntemplate: tars.default\n")
    assert repo.problems() == ["services/X/values.yaml:1:1: build.type is needed: template 'tars.default' does not "
                               "tell the server type (one of cpp, go, java-jar, java-war, nodejs, php)"]


def test_build_inputs_and_dockerfile_must_exist(repo):
    repo.service("Shop", "Cart", "build:\n  dockerfile: Dockerfile.prod\n  inputs: [libs/missing]\n")
    assert repo.problems() == [
        f"{F}:5:15: build.dockerfile: 'Dockerfile.prod' does not exist in Cart/",
        f"{F}:6:12: build.inputs[0]: 'libs/missing' does not exist (paths are relative to the repository root)",
    ]


def test_tserver_name_too_long(repo):
    server = "S" + "x" * 60
    repo.write("services/X/values.yaml", f"app: Abc\nserver: {server}\ntemplate: tars.cpp\n")
    name = f"abc-{server.lower()}"
    assert repo.problems() == [f"services/X/values.yaml:2:9: server: TServer name {name!r} is 65 characters; "
                               "lower(app)-lower(server) must be at most 58"]


def test_unknown_template_is_a_warning(repo):
    repo.service("Shop", "Cart")
    repo.write("services/Shop/Cart/values.yaml", "app: Shop\nserver: Cart\ntemplate: tars.go\n")
    project = repo.load()
    assert [str(p) for p in project.problems] == [
        f"{F}:3:11: warning: template: 'tars.go' is not a template the framework ships (tars.default, tars.cpp, "
        "tars.java, tars.nodejs, tars.php, tars.es); make sure your operator created it"]
    project.require_valid()  # a warning does not make the file invalid


def test_non_string_key(repo):
    assert problems_of(repo, "servants:\n  - {1: a, name: A, port: 1}\n") == [f"{F}:5:6: servants[0][1]: key 1 must be a string"]


def test_every_problem_of_every_file_in_one_run(repo):
    repo.service("A", "One", "replicas: 100\n")
    repo.service("B", "Two", "replicas: -1\nservants: [{name: x, port: 0}]\n")
    assert repo.problems() == [
        "services/A/One/values.yaml:4:11: replicas: 100 is greater than 99",
        "services/B/Two/values.yaml:4:11: replicas: -1 is less than 0",
        "services/B/Two/values.yaml:5:28: servants[0].port: 0 is less than 1",
    ]


def test_valid_maximal_file_has_no_problems(repo):
    repo.write("services/Full/values.yaml", (REPO_DATA / "maximal.yaml").read_text())
    repo.write("services/libs/common.h", "int x;\n")  # an input with no file in it would reach no image
    # repo.id is accepted (upstream requires it) but names pinned images only: a note, not an error
    assert repo.problems() == ["services/Full/values.yaml:35:7: warning: repo.id: ignored: a built image's release id "
                               "is its content tag (a rerun with nothing changed restarts nothing); repo.id names "
                               "pinned images only"]

