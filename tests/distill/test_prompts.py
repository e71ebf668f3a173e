from boltir.distill.prompts import listwise_messages, parse_permutation, sliding_windows


def test_parse_repairs_missing_repeated_and_out_of_range_ids():
    p = parse_permutation("[3] > [1] > [3] > [9] > [0] > [1]", 4)
    assert p.order == [2, 0, 1, 3]  # 3, 1 as answered; 2 and 4 appended in input order
    assert (p.valid, p.repeated, p.out_of_range, p.missing) == (2, 2, 2, 2)
    clean = parse_permutation("[2] > [1] > [3]", 3)
    assert clean.order == [1, 0, 2] and (clean.repeated, clean.out_of_range, clean.missing) == (0, 0, 0)
    none = parse_permutation("I cannot rank these passages.", 3)
    assert none.valid == 0 and none.order == [0, 1, 2]


def test_sliding_windows_back_to_front():
    assert sliding_windows(100, 20, 10) == [
        (80, 100),
        (70, 90),
        (60, 80),
        (50, 70),
        (40, 60),
        (30, 50),
        (20, 40),
        (10, 30),
        (0, 20),
    ]
    assert sliding_windows(5, 20, 10) == [(0, 5)]
    assert sliding_windows(4, 3, 2) == [(1, 4), (0, 2)]


def test_a_perfect_ranker_in_windows_finds_the_true_top_stride():
    # 100 candidates in reverse order of merit: one back-to-front pass must bring the best 10 to the top, sorted
    order = list(range(100))[::-1]
    for start, end in sliding_windows(100, 20, 10):
        order[start:end] = sorted(order[start:end])
    assert order[:10] == list(range(10))


def test_messages_number_every_passage_and_truncate():
    msgs = listwise_messages("what is a cat", ["a b c d e", "second passage"], max_words=3)
    user = msgs[-1]["content"]
    assert msgs[0]["role"] == "system" and msgs[-1]["role"] == "user"
    assert "[1] a b c\n" in user and "[2] second passage" in user and "d e" not in user
    assert "what is a cat" in user and "1 to 2" in user
