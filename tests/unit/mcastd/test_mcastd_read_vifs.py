"""kernel.read_vifs: the VIF table as the kernel prints it in /proc/net/ip_mr_vif."""
from ansible_collections.mcast.linux.plugins.module_utils.mcastd import kernel

# Recorded in a namespace with two VIFs (VIFF_USE_IFINDEX, flags 00008).
IP_MR_VIF = """Interface      BytesIn  PktsIn  BytesOut PktsOut Flags Local    Remote
 0 trunk.10          1200      10         0       0 00008 00000003 00000000
 1 trunk.20             0       0      1200      10 00008 00000004 00000000
"""


def test_rows_with_counters_and_flags(tmp_path):
    path = tmp_path / "ip_mr_vif"
    path.write_text(IP_MR_VIF)
    assert kernel.read_vifs(str(path)) == [
        kernel.VifRow(0, "trunk.10", 1200, 10, 0, 0, 8),
        kernel.VifRow(1, "trunk.20", 0, 0, 1200, 10, 8),
    ]


def test_a_kernel_without_multicast_routing_has_no_vifs(tmp_path):
    assert kernel.read_vifs(str(tmp_path / "absent")) == []
