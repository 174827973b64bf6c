namespace Vigil.Rules;

/// <summary>A 1-based position in a rule or test file.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>One problem an SRE can act on: where, what, and what to do about it.</summary>
public sealed record RuleProblem(string File, int Line, int Column, string Message, string? Hint = null)
{
    public RuleProblem(string file, SourcePosition at, string message, string? hint = null)
        : this(file, at.Line, at.Column, message, hint)
    {
    }

    public override string ToString() => Hint is null
        ? $"{File}:{Line}:{Column}: {Message}"
        : $"{File}:{Line}:{Column}: {Message} ({Hint})";
}
