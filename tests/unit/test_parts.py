import pytest

from smsledger.domain.errors import EmptyContent
from smsledger.domain.parts import Encoding, count_parts


@pytest.mark.parametrize(
    ("text", "parts", "encoding"),
    [
        ("a" * 160, 1, Encoding.GSM7),
        ("a" * 161, 2, Encoding.GSM7),
        ("a" * 306, 2, Encoding.GSM7),
        ("a" * 307, 3, Encoding.GSM7),
        ("€" * 80, 1, Encoding.GSM7),  # 160 septets: the euro sign counts twice
        ("€" * 81, 2, Encoding.GSM7),
        ("a" * 159 + "{", 2, Encoding.GSM7),  # 161 septets
        ("ж" * 70, 1, Encoding.UCS2),
        ("ж" * 71, 2, Encoding.UCS2),
        ("a" * 69 + "😀", 2, Encoding.UCS2),  # 70 characters, 71 UTF-16 units
        ("a" * 68 + "😀", 1, Encoding.UCS2),
        ("ж" * 134, 2, Encoding.UCS2),
        ("ж" * 135, 3, Encoding.UCS2),
    ],
)
def test_part_counts(text, parts, encoding):
    counted = count_parts(text)
    assert (counted.parts, counted.encoding) == (parts, encoding)


def test_an_extension_character_is_never_split_across_parts():
    # 152 septets then '€' (2): it does not fit the first 153-septet part.
    text = "a" * 152 + "€" + "a" * 10
    assert count_parts(text).units == 164
    assert count_parts(text).parts == 2
    assert count_parts("a" * 152 + "€" + "a" * 152).parts == 3


def test_a_surrogate_pair_is_never_split_across_parts():
    assert count_parts("ж" * 66 + "😀" + "ж" * 66).parts == 3


def test_description_reads_like_the_cli_output():
    assert count_parts("a" * 161).describe() == "2 parts, GSM-7, 161 characters"
    assert count_parts("hi").describe() == "1 part, GSM-7, 2 characters"


def test_empty_text_is_refused():
    with pytest.raises(EmptyContent):
        count_parts("")
