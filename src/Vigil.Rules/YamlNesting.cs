using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Vigil.Rules;

/// <summary>
/// Loads YAML with a nesting limit. YamlDotNet builds the node tree with one recursive call per level, so a document
/// of nested <c>[[[…</c> or <c>{a: {a: …</c> a few thousand levels deep exhausts the stack and kills the process; the
/// events are counted as they are read and the level past <see cref="MaxDepth"/> is refused where it opens.
/// Every YAML file Vigil reads (rule files, rule test files, vigil.yaml) is loaded through here.
/// </summary>
public static class YamlNesting
{
    /// <summary>The deepest nesting of mappings and lists accepted; the top-level mapping is level 1. Vigil's files use under 10.</summary>
    public const int MaxDepth = 100;

    /// <summary>What to tell the author of a file refused by <see cref="TooDeepException"/>.</summary>
    public const string Hint = "no Vigil file needs more than a few levels; look for runaway [ or { here";

    /// <summary>Loads every document of <paramref name="reader"/>.</summary>
    /// <exception cref="TooDeepException">A mapping or list opens level <see cref="MaxDepth"/> + 1; its position is the exception's start.</exception>
    /// <exception cref="YamlException">The text is not YAML.</exception>
    public static YamlStream Load(TextReader reader) => Load(new Parser(reader));

    /// <summary>Loads from <paramref name="parser"/>, so a caller can ask it where it stopped when YamlDotNet throws.</summary>
    public static YamlStream Load(IParser parser)
    {
        var stream = new YamlStream();
        stream.Load(new DepthCountingParser(parser));
        return stream;
    }

    /// <summary>The document nests deeper than <see cref="MaxDepth"/>; <see cref="YamlException.Start"/> is where the level opens.</summary>
    public sealed class TooDeepException(Mark start, Mark end)
        : YamlException(start, end, $"YAML nested deeper than {MaxDepth} levels of mappings and lists");

    private sealed class DepthCountingParser(IParser inner) : IParser
    {
        private int _depth;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext())
            {
                return false;
            }

            switch (inner.Current)
            {
                case MappingStart or SequenceStart:
                    if (++_depth > MaxDepth)
                    {
                        throw new TooDeepException(inner.Current.Start, inner.Current.End);
                    }

                    break;
                case MappingEnd or SequenceEnd:
                    _depth--;
                    break;
            }

            return true;
        }
    }
}
