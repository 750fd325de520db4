"""The verify report is assembled section by section by three commands (reference, parallel,
gpu); re-running one replaces its own section and keeps the others in order."""

from reference.verify import set_section

INDEX = "# Verify\n\nintro\n\n## 1. Oracle\n\none\n\n## 3. MPI trainers\n\nold three\n"


def test_a_section_is_replaced_in_place_and_a_new_one_appended(tmp_path):
    index = tmp_path / "index.md"
    index.write_text(INDEX)
    set_section(index, "## 4. GPU kernels", "\n## 4. GPU kernels\n\nfour\n")
    set_section(index, "## 3. MPI trainers", "## 3. MPI trainers\n\nnew three\n")
    assert index.read_text() == ("# Verify\n\nintro\n\n## 1. Oracle\n\none\n\n"
                                 "## 3. MPI trainers\n\nnew three\n\n"
                                 "## 4. GPU kernels\n\nfour\n")
