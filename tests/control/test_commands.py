"""The command queue between the OSC/MIDI threads and the display thread."""

from visualizer.control.commands import Command, CommandQueue


def test_a_fader_stream_keeps_only_its_newest_value_and_order_is_kept():
    queue = CommandQueue()
    for v in range(100):
        queue.put(Command("set", ("effects.zoom", 1.0 + v / 100)))
    queue.put(Command("freeze"))
    queue.put(Command("set", ("effects.warp", 0.5)))
    drained = queue.drain()
    assert [(c.name, c.args) for c in drained] == [("set", ("effects.zoom", 1.99)), ("freeze", ()),
                                                  ("set", ("effects.warp", 0.5))]
    assert queue.drain() == []


def test_commands_that_want_an_answer_are_all_kept():
    queue = CommandQueue()
    answers = []
    for v in (1.2, 1.3):
        queue.put(Command("set", ("effects.zoom", v), reply=lambda ok, text: answers.append(text)))
    assert len(queue.drain()) == 2


def test_a_full_queue_drops_the_oldest():
    queue = CommandQueue(capacity=4)
    for i in range(6):
        queue.put(Command("scene", (i,)))
    assert [c.args[0] for c in queue.drain()] == [2, 3, 4, 5] and queue.dropped == 2
