namespace Vigil.Rules;

/// <summary>
/// What one evaluation saw and decided for one instance, kept for explain. The guard text is derived on read from
/// the samples and min_samples, and the threshold is the rule's own object, so an entry costs its reason and a few
/// numbers.
/// </summary>
internal readonly record struct EvaluationRecord(
    DateTimeOffset At,
    double? Value,
    double Samples,
    bool Absent,
    EffectiveRule Effective,
    AlertState State,
    string Reason);

/// <summary>
/// The last N evaluations of one instance: a fixed ring written by the group's evaluation and read by explain under
/// its own small lock, never the group's (decision 020). Capacity is <c>rules.explain_history</c>; 0 keeps nothing.
/// </summary>
internal sealed class EvaluationHistory(int capacity)
{
    private readonly EvaluationRecord[] _entries = new EvaluationRecord[capacity];
    private readonly Lock _lock = new();
    private int _next;
    private int _count;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public void Add(EvaluationRecord entry)
    {
        if (_entries.Length == 0)
        {
            return;
        }

        lock (_lock)
        {
            _entries[_next] = entry;
            _next = (_next + 1) % _entries.Length;
            _count = Math.Min(_count + 1, _entries.Length);
        }
    }

    /// <summary>The retained evaluations, oldest first.</summary>
    public EvaluationRecord[] ToArray()
    {
        lock (_lock)
        {
            var result = new EvaluationRecord[_count];
            var first = (_next - _count + _entries.Length) % Math.Max(1, _entries.Length);
            for (var i = 0; i < _count; i++)
            {
                result[i] = _entries[(first + i) % _entries.Length];
            }

            return result;
        }
    }
}
