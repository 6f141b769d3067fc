import io

from qa_bot.repl import handle_line, run_repl


def test_commands_and_questions(shared_hash_service):
    state = {"k": 3}
    assert handle_line(shared_hash_service, "/k 1", state, False) == "Showing 1 passage(s) per answer."
    assert state["k"] == 1
    assert handle_line(shared_hash_service, "/k 0", state, False) == "Usage: /k N  (N from 1 to 50)"
    assert "/sources" in handle_line(shared_hash_service, "/help", state, False)
    assert handle_line(shared_hash_service, "/sources", state, False).startswith("2 article(s), 17 passages")
    assert handle_line(shared_hash_service, "/nope", state, False) == "Unknown command /nope. Type /help for the list."
    answer = handle_line(shared_hash_service, "Wer ist Jake Sullivan?", state, False)
    assert answer.startswith("[1] score") and "[2]" not in answer and "Jake Sullivan" in answer
    assert handle_line(shared_hash_service, "🙂", state, False).startswith("Error: The question has no words")
    assert handle_line(shared_hash_service, "   ", state, False) == ""
    assert handle_line(shared_hash_service, "/quit", state, False) is None


def test_colour_marks_the_highlight(shared_hash_service):
    out = handle_line(shared_hash_service, "Wer ist Jake Sullivan?", {"k": 1}, True)
    assert "\x1b[1;33m" in out and "**" not in out


def test_piped_session_runs_to_the_end(shared_hash_service):
    stdin = io.StringIO("Wer ist Jake Sullivan?\n/k 2\nWie backe ich einen Apfelkuchen?\n")
    stdout = io.StringIO()
    run_repl(shared_hash_service, 1, stdin=stdin, stdout=stdout)
    text = stdout.getvalue()
    assert text.startswith("qa-bot: 2 article(s), 17 passages.")
    assert "Jake Sullivan" in text and "Showing 2 passage(s)" in text and "Nothing in the articles" in text
