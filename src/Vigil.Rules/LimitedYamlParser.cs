using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Vigil.Rules;

/// <summary>A rule file went over one of the <see cref="RuleLimits"/> while it was parsed.</summary>
internal sealed class RuleLimitException(Mark at, string message, string hint) : Exception(message)
{
    public Mark At { get; } = at;

    public string Hint { get; } = hint;
}

/// <summary>
/// Passes the parser's events through, refusing (with <see cref="RuleLimitException"/>, at the offending event) a
/// string longer than <see cref="RuleLimits.MaxStringLength"/>, an alias inside the node it refers to or before its
/// anchor, and aliases that expand the file by more than <see cref="RuleLimits.AliasNodeBudget"/> or the nodes it
/// writes.
/// </summary>
/// <remarks>
/// YamlDotNet shares an aliased node instead of copying it, so an alias bomb parses in no time; the cost comes when
/// the loader walks the tree, which expands every alias. Each anchor's size is therefore counted as the loader will
/// see it (its nodes, with the aliases inside it expanded), and each alias adds that size. A self-containing alias,
/// or one YamlDotNet resolves forward to a later anchor, could make the tree cyclic, and any walk of it endless.
/// </remarks>
internal sealed class LimitedYamlParser(IParser inner, RuleLimits limits) : IParser
{
    // Sizes saturate here: a few nested aliases can describe more nodes than a long holds.
    private const long Saturated = 1L << 60;
    private const long Open = -1;

    private readonly Dictionary<string, long> _anchors = new(StringComparer.Ordinal);
    private readonly Stack<(AnchorName Anchor, long Size)> _open = new();
    private long _written;
    private long _aliased;

    public ParsingEvent? Current => inner.Current;

    public bool MoveNext()
    {
        if (!inner.MoveNext())
        {
            return false;
        }

        switch (inner.Current)
        {
            case DocumentStart:
                // Anchors belong to their document: YamlDotNet resolves an alias to an earlier document's anchor forward.
                _anchors.Clear();
                break;
            case Scalar scalar:
                if (scalar.Value.Length > limits.MaxStringLength)
                {
                    throw new RuleLimitException(scalar.Start,
                        $"string of {RuleLimits.Count(scalar.Value.Length)} characters is longer than the limit of {RuleLimits.Count(limits.MaxStringLength)} (rules.max_string_length)",
                        "keep rule text short; long explanations belong in the runbook");
                }

                _written++;
                Close(scalar.Anchor, 1);
                break;
            case NodeEvent start and (SequenceStart or MappingStart):
                _written++;
                if (!start.Anchor.IsEmpty)
                {
                    _anchors[start.Anchor.Value] = Open;
                }

                _open.Push((start.Anchor, 1));
                break;
            case SequenceEnd or MappingEnd:
                var (anchor, size) = _open.Pop();
                Close(anchor, size);
                break;
            case AnchorAlias alias:
                Alias(alias);
                break;
        }

        return true;
    }

    private void Alias(AnchorAlias alias)
    {
        var name = alias.Value.Value;
        if (!_anchors.TryGetValue(name, out var size))
        {
            // YamlDotNet would resolve it to an anchor further down, and two such aliases can make a cycle.
            throw new RuleLimitException(alias.Start, $"alias '*{name}' comes before its anchor", $"write '&{name}' on the node before using '*{name}'");
        }

        if (size == Open)
        {
            throw new RuleLimitException(alias.Start, $"alias '*{name}' refers to a node that contains it", "an anchor cannot be used inside its own value");
        }

        _aliased = Math.Min(_aliased + size, Saturated);
        var budget = Math.Max(limits.AliasNodeBudget, _written);
        if (_aliased > budget)
        {
            throw new RuleLimitException(alias.Start,
                $"alias '*{name}' would expand the file beyond {RuleLimits.Count(budget)} nodes; aliases may add at most as many nodes as the file writes, or {RuleLimits.Count(limits.AliasNodeBudget)} in a smaller file",
                "write the repeated parts out instead of nesting aliases");
        }

        Add(size);
    }

    private void Close(AnchorName anchor, long size)
    {
        if (!anchor.IsEmpty)
        {
            _anchors[anchor.Value] = size;
        }

        Add(size);
    }

    private void Add(long size)
    {
        if (_open.TryPop(out var parent))
        {
            _open.Push((parent.Anchor, Math.Min(parent.Size + size, Saturated)));
        }
    }
}
