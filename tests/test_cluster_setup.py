"""A node that cannot join during setup ends its trial ``setup-timeout`` with what happened -
it never escapes ``Cluster.run`` as an exception that would end the whole run."""

from __future__ import annotations

from rlnc_testbed.experiment.cluster import Cluster
from rlnc_testbed.protocol import Params
from rlnc_testbed.signaling import SignalingClient

SMALL = Params(scheme="rlnc", seed=2, peers=4, symbols=8, symbol_size=32, parents=2, rounds=2)


async def test_a_peer_refused_at_join_is_the_trials_setup_failure() -> None:
    async with Cluster(SMALL, 0, transport="memory") as cluster:
        # slot 3 is taken before the cluster's own peer 3 joins: its join is refused
        squatter = await SignalingClient.connect(
            cluster.server.url, token=cluster.server.credential("peer", "3"), role="peer", slot="3"
        )
        record = await cluster.run()
        await squatter.close()
    assert record.rounds == [] and record.finish == "setup-timeout"
    assert "a node could not join: SignalingError" in record.error
    assert "slot '3' is taken" in record.error
