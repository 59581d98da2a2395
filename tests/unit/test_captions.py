"""Caption checks: names from the register block or warn; what locates a child warns."""

from gatekeeper.publishing.captions import check_caption

REGISTER = [("Ada", "Lovelace"), ("Alan", "Turing")]


def test_full_name_and_surname_block():
    assert check_caption("Well done Ada Lovelace!", REGISTER).errors == (
        "contains a pupil's full name (Ada Lovelace)",)
    assert not check_caption("The turing team won", REGISTER).ok


def test_first_names_postcodes_and_house_numbers_warn():
    check = check_caption("Ada ran to 12 Acacia Avenue, SW1A 1AA", REGISTER)
    assert check.ok
    assert len(check.warnings) == 3


def test_words_containing_a_name_do_not_match():
    assert check_caption("Turingesque maths and Adaptable kids", REGISTER) == check_caption("", [])
