"""A fake Kubernetes API server with a simulated TARS (K8SFramework) operator, for helm and Python clients.

    from fakes.cluster import FakeCluster, Outcome

    with FakeCluster() as cluster:
        kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
        cluster.set_outcome("repo/hello:v2", Outcome.crashloop(error_line="boom"))
        ...  # run helm --kubeconfig kubeconfig ...
        cluster.get("StatefulSet", "ns", "hello-helloserver")
"""
from .fake import FakeCluster
from .kubelet import CRASHLOOP, IMAGEPULL, INACTIVE, READY, UNSCHEDULABLE, Outcome
from .record import ObjectChange, PodTransition, Request, ServerTransition
from .store import ApiError

__all__ = ["CRASHLOOP", "IMAGEPULL", "INACTIVE", "READY", "UNSCHEDULABLE", "ApiError", "FakeCluster",
           "ObjectChange", "Outcome", "PodTransition", "Request", "ServerTransition"]
