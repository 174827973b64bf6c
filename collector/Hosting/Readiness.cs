namespace Vigil.Collector;

/// <summary>
/// What /readyz waits for. Each subsystem marks itself ready once it can serve, and not ready again
/// (with the reason /readyz shows) when it stops being able to, e.g. the WAL on a full disk.
/// </summary>
public sealed class Readiness
{
    private readonly Dictionary<string, bool> _parts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _reasons = new(StringComparer.Ordinal);
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
            _reasons.Remove(part);
        }
    }

    /// <summary>A part that was serving cannot any more; <paramref name="reason"/> says why (no secrets in it).</summary>
    public void MarkNotReady(string part, string reason)
    {
        lock (_parts)
        {
            _parts[part] = false;
            _reasons[part] = reason;
        }
    }

    public IReadOnlyDictionary<string, bool> Snapshot()
    {
        lock (_parts)
        {
            return new Dictionary<string, bool>(_parts);
        }
    }

    /// <summary>Why parts are not ready, for those that said why (a part still starting has no reason).</summary>
    public IReadOnlyDictionary<string, string> Reasons()
    {
        lock (_parts)
        {
            return new Dictionary<string, string>(_reasons);
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
