"""The rename of 0.1.0's topics inside a stored state (smsledger/adapters/store/upgrade.py)."""

import json

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.utils import Environment

from smsledger.adapters.runtime.config import ConfigurationError
from smsledger.adapters.store.mapper import RowMapper
from smsledger.adapters.store.transcoder import OrjsonTranscoder
from smsledger.adapters.store.upgrade import _StateRewriter, is_old_topic, new_topic

CREATED = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-30T16:52:23+00:00"},'
           b'"originator_topic":"domain.message:Message","text":"say \\"originator_topic\\":'
           b'\\"domain.x\\""}')


def mapper(cipher=None, compressor=None):
    return RowMapper(OrjsonTranscoder(), compressor=compressor, cipher=cipher)


def test_old_topics_are_those_of_the_three_top_level_modules():
    assert is_old_topic("domain.message:Message.Requested")
    assert is_old_topic("application.x:Y") and is_old_topic("adapters.x:Y")
    assert not is_old_topic("smsledger.domain.message:Message.Requested")
    assert not is_old_topic("eventsourcing.domain:Aggregate.Created")
    assert new_topic("domain.message:Message") == "smsledger.domain.message:Message"


def test_only_the_originator_topic_is_renamed_and_nothing_else_changes():
    renamed = _StateRewriter(mapper())(CREATED)
    state = json.loads(renamed)
    assert state["originator_topic"] == "smsledger.domain.message:Message"
    assert state["text"] == 'say "originator_topic":"domain.x"'  # a value, not the key
    assert renamed == CREATED.replace(b'"domain.message', b'"smsledger.domain.message')


def test_a_creation_state_that_cannot_be_read_stops_the_upgrade():
    """An encrypted store opened without its key: its states are ciphertext."""
    cipher = AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(16)}))
    with pytest.raises(ConfigurationError, match="SMSLEDGER_ENCRYPTION_KEY"):
        _StateRewriter(mapper())(cipher.encrypt(CREATED))
    other = AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(16)}))
    with pytest.raises(ConfigurationError, match="SMSLEDGER_ENCRYPTION_KEY"):
        _StateRewriter(mapper(other))(cipher.encrypt(CREATED))


def test_enciphered_and_compressed_states_are_renamed_inside():
    cipher = AESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(16)}))
    compressor = ZlibCompressor()
    stored = cipher.encrypt(compressor.compress(CREATED))
    renamed = _StateRewriter(mapper(cipher, compressor))(stored)
    plain = json.loads(compressor.decompress(cipher.decrypt(renamed)))
    assert plain["originator_topic"] == "smsledger.domain.message:Message"
