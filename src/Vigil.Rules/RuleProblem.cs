using System.Globalization;
using System.Text;

namespace Vigil.Rules;

/// <summary>A 1-based position in a rule or test file.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>
/// One problem an SRE can act on: where, what, and what to do about it. Problems quote what the file says, and they
/// end up in logs, API answers and terminals: control characters in <see cref="File"/>, <see cref="Message"/> and
/// <see cref="Hint"/> are written as <c>\uXXXX</c>, so a rule file cannot forge a log line or drive a terminal.
/// </summary>
public sealed record RuleProblem(string File, int Line, int Column, string Message, string? Hint = null)
{
    public RuleProblem(string file, SourcePosition at, string message, string? hint = null)
        : this(file, at.Line, at.Column, message, hint)
    {
    }

    public string File { get; init; } = Printable(File);

    public string Message { get; init; } = Printable(Message);

    public string? Hint { get; init; } = Hint is null ? null : Printable(Hint);

    public override string ToString() => Hint is null
        ? $"{File}:{Line}:{Column}: {Message}"
        : $"{File}:{Line}:{Column}: {Message} ({Hint})";

    /// <summary>
    /// Whether <paramref name="c"/> at <paramref name="index"/> of <paramref name="text"/> is invisible or moves
    /// the text: a control or format character (bidi overrides, zero-width), a line or paragraph separator, or half
    /// of a broken surrogate pair.
    /// </summary>
    internal static bool IsUnprintable(string text, int index)
    {
        var c = text[index];
        if (char.IsHighSurrogate(c))
        {
            return index + 1 >= text.Length || !char.IsLowSurrogate(text[index + 1]);
        }

        if (char.IsLowSurrogate(c))
        {
            return index == 0 || !char.IsHighSurrogate(text[index - 1]);
        }

        return CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
    }

    /// <summary><paramref name="text"/> with every unprintable character written as <c>\uXXXX</c>.</summary>
    internal static string Printable(string text)
    {
        var first = -1;
        for (var i = 0; i < text.Length && first < 0; i++)
        {
            first = IsUnprintable(text, i) ? i : -1;
        }

        if (first < 0)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (var i = first; i < text.Length; i++)
        {
            if (IsUnprintable(text, i))
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)text[i]:X4}");
            }
            else
            {
                sb.Append(text[i]);
            }
        }

        return sb.ToString();
    }
}
