namespace Vigil.Collector;

/// <summary>What /readyz waits for. Each subsystem marks itself ready once it can serve.</summary>
public sealed class Readiness
{
    private readonly Dictionary<string, bool> _parts = new(StringComparer.Ordinal);
    private readonly List<Func<IEnumerable<KeyValuePair<string, string>>>> _details = [];

    /// <summary>A source of problems /readyz names without turning unready (e.g. a failing remote-write queue).</summary>
    public void AddDetail(Func<IEnumerable<KeyValuePair<string, string>>> detail)
    {
        lock (_parts)
        {
            _details.Add(detail);
        }
    }

    /// <summary>The problems the detail sources report now, by name.</summary>
    public IReadOnlyDictionary<string, string> Details()
    {
        List<Func<IEnumerable<KeyValuePair<string, string>>>> sources;
        lock (_parts)
        {
            sources = [.. _details];
        }

        var details = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var source in sources)
        {
            foreach (var (name, text) in source())
            {
                details[name] = text;
            }
        }

        return details;
    }

    public void Require(string part)
    {
        lock (_parts)
        {
            _parts.TryAdd(part, false);
        }
    }

    public void MarkReady(string part)
    {
        lock (_parts)
        {
            _parts[part] = true;
        }
    }

    public IReadOnlyDictionary<string, bool> Snapshot()
    {
        lock (_parts)
        {
            return new Dictionary<string, bool>(_parts);
        }
    }

    public bool IsReady
    {
        get
        {
            lock (_parts)
            {
                return _parts.Values.All(ready => ready);
            }
        }
    }
}
