import pytest
import torch

from diffblend_astra.partition import Partition, PartitionSchedule


def all_partitions(z):
    return [Partition.adjacency(z, m) for m in range(3)] + [Partition.cross(z, m) for m in range(9)]


@pytest.mark.parametrize("z", range(3, 41))
def test_every_slice_is_written_exactly_once(z):
    for p in all_partitions(z):
        sources, owners = p.index_tensors()
        assert sorted(sources[owners].tolist()) == list(range(z)), p
        assert sources.min() >= 0 and sources.max() < z


@pytest.mark.parametrize("z", range(3, 41))
def test_gather_then_scatter_is_identity(z):
    volume = torch.randn(z, 4, 5)
    for p in all_partitions(z):
        groups = p.gather(volume)
        assert groups.shape == (p.num_groups, 3, 4, 5)
        assert torch.equal(p.scatter(groups), volume)


@pytest.mark.parametrize("z", range(9, 41))
def test_groups_keep_their_spacing(z):
    """Edge groups move inward instead of repeating slices, once Z allows it."""
    for p in all_partitions(z):
        for group in p.sources:
            assert group[1] - group[0] == group[2] - group[1] == p.spacing, (p, group)


def test_cross_partition_pairs_slices_three_apart_in_blocks_of_nine():
    p = Partition.cross(18)
    assert p.spacing == 3
    assert p.sources == ((0, 3, 6), (1, 4, 7), (2, 5, 8), (9, 12, 15), (10, 13, 16), (11, 14, 17))
    assert all(all(o) for o in p.owners)


def test_adjacency_offset_shifts_the_triples():
    assert Partition.adjacency(9, 0).sources == ((0, 1, 2), (3, 4, 5), (6, 7, 8))
    p = Partition.adjacency(9, 2)
    # first group owns slice 0 only (its other entries read real neighbours)
    assert p.sources[0] == (0, 1, 2) and p.owners[0] == (True, False, False)
    assert p.sources[1] == (1, 2, 3) and p.owners[1] == (True, True, True)
    assert p.sources[-1] == (6, 7, 8) and p.owners[-1] == (False, True, True)


def test_short_volume_falls_back_to_edge_repetition():
    p = Partition.cross(4)
    assert max(max(g) for g in p.sources) == 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="Z >= 3"):
        Partition.adjacency(2)
    with pytest.raises(ValueError, match="offset"):
        Partition.adjacency(10, 3)
    with pytest.raises(ValueError, match="offset"):
        Partition.cross(10, 9)


def test_schedule_alternates_cross_and_random_adjacency():
    schedule = PartitionSchedule()
    g = torch.Generator().manual_seed(0)
    kinds = [schedule.partition(step, 20, g).spacing for step in range(8)]
    assert kinds == [1, 3, 1, 3, 1, 3, 1, 3]
    offsets = {schedule.partition(0, 20, g).offset for _ in range(50)}
    assert offsets == {0, 1, 2}


def test_schedule_ablations():
    g = torch.Generator().manual_seed(0)
    adjacency_only = PartitionSchedule(cross_every=0)
    assert all(adjacency_only.partition(s, 20, g).spacing == 1 for s in range(6))
    fixed = PartitionSchedule(cross_every=0, random_offsets=False)
    assert {fixed.partition(s, 20, g).offset for s in range(20)} == {0}


def test_partition_is_a_value_object():
    assert Partition.cross(12) == Partition.cross(12)
    assert Partition.adjacency(12, 1) != Partition.adjacency(12, 2)
    assert repr(Partition.adjacency(12, 1)) == "Partition.adjacency(12, offset=1)"
