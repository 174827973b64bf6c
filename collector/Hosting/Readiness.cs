namespace Vigil.Collector;

/// <summary>What /readyz waits for. Each subsystem marks itself ready once it can serve.</summary>
public sealed class Readiness
{
    private readonly Dictionary<string, bool> _parts = new(StringComparer.Ordinal);

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
