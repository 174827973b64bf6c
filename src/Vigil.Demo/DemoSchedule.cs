namespace Vigil.Demo;

/// <summary>One stretch of the demo: a scenario on one target tenant.</summary>
/// <param name="Scenario">what plays.</param>
/// <param name="TargetTenant">the tenant the incident hits (normal traffic covers every tenant).</param>
/// <param name="Start">offset from the start of the run.</param>
/// <param name="Length">how long it lasts.</param>
/// <param name="Cycle">which repetition of the cycle (0 = first).</param>
public sealed record DemoPhase(Scenario Scenario, string TargetTenant, TimeSpan Start, TimeSpan Length, int Cycle)
{
    public TimeSpan End => Start + Length;
}

/// <summary>
/// The demo's timeline: each scenario of <see cref="DemoOptions.Cycle"/> followed by a calm stretch, repeated,
/// cycle k targeting tenant k mod n. A pure function of elapsed time, so it is tested without a clock.
/// </summary>
public sealed class DemoSchedule
{
    private readonly List<(Scenario Scenario, TimeSpan Start, TimeSpan Length)> _cycle = [];
    private readonly IReadOnlyList<string> _tenants;

    public DemoSchedule(DemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("demo options are invalid: " + string.Join("; ", problems), nameof(options));
        }

        _tenants = options.Tenants;
        var at = TimeSpan.Zero;
        foreach (var scenario in options.Cycle)
        {
            var length = scenario == Scenario.Normal
                ? options.ScenarioLength ?? options.CalmLength
                : options.ScenarioLength ?? ScenarioInfo.Of(scenario).DefaultLength;
            _cycle.Add((scenario, at, length));
            at += length;
            if (scenario != Scenario.Normal && options.CalmLength > TimeSpan.Zero)
            {
                _cycle.Add((Scenario.Normal, at, options.CalmLength));
                at += options.CalmLength;
            }
        }

        CycleLength = at;
    }

    /// <summary>Length of one full cycle.</summary>
    public TimeSpan CycleLength { get; }

    /// <summary>The phase playing <paramref name="elapsed"/> after the start.</summary>
    public DemoPhase PhaseAt(TimeSpan elapsed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(elapsed, TimeSpan.Zero);
        var cycle = (int)Math.Min(int.MaxValue, elapsed.Ticks / CycleLength.Ticks);
        var within = TimeSpan.FromTicks(elapsed.Ticks % CycleLength.Ticks);
        var cycleStart = elapsed - within;
        var tenant = _tenants[cycle % _tenants.Count];
        for (var i = _cycle.Count - 1; i >= 0; i--)
        {
            var (scenario, start, length) = _cycle[i];
            if (within >= start)
            {
                return new DemoPhase(scenario, tenant, cycleStart + start, length, cycle);
            }
        }

        throw new InvalidOperationException("unreachable: the first phase starts at 0");
    }
}
