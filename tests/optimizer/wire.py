"""Wire messages the service tests send."""

from __future__ import annotations

from agentledger.optimizer.v1 import optimizer_pb2 as pb


def plan() -> pb.PlanGraph:
    """spec -> build -> verify, build with a cheaper variant and a retry policy."""
    return pb.PlanGraph(
        nodes=[
            pb.PlanNode(id="spec", phase="spec", latency_s=2, tokens=100, subgoal="g"),
            pb.PlanNode(
                id="build", phase="build", depends_on=["spec"], latency_s=10, tokens=1000,
                usd=0.5, success_proxy=0.9, max_attempts=2, backoff_s=1.5, subgoal="g",
                variants=[
                    pb.Variant(name="cheap", latency_s=4, tokens=300, usd=0.1, risk=0.2,
                               success_proxy=0.7, kind="degraded"),
                ],
            ),
            pb.PlanNode(id="verify", phase="verify", depends_on=["build"], latency_s=3,
                        tokens=50),
        ]
    )  # fmt: skip
