namespace Vigil.Storage;

/// <summary>Window store settings (config section <c>storage</c>). Defaults follow DESIGN §3 and §5.</summary>
public sealed record WindowStoreOptions
{
    /// <summary>Width of one bucket.</summary>
    public TimeSpan Resolution { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How far back buckets are kept; must cover the largest rule window.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Points stamped further ahead of the server clock than this are refused.</summary>
    public TimeSpan FutureTolerance { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Resource attributes that become part of a series' identity (and its labels).</summary>
    public IReadOnlyList<string> ResourceAttributes { get; init; } =
        ["service.name", "service.namespace", "deployment.environment.name", "tenant.id", "workspace.id"];

    /// <summary>
    /// New series of a metric past this many go to its overflow series and are reported as refused. A fifth
    /// of <see cref="MaxSeries"/>: one exploding metric cannot take the whole store, while a fleet's busiest
    /// metric (25,000 series for 625 tenants in docs/performance.md's model) fits whole; the per-tenant cap is the guard.
    /// </summary>
    public int MaxSeriesPerMetric { get; init; } = 200_000;

    /// <summary>
    /// New series of one tenant (the value of <see cref="TenantAttribute"/>) past this many are refused
    /// with a reason, so one tenant cannot use up the memory of all (0 = no limit). Not folded into an
    /// overflow series: that would mix tenants.
    /// </summary>
    public int MaxSeriesPerTenant { get; init; } = 100_000;

    /// <summary>
    /// Series in the whole store past which every new series is refused with a reason (0 = no limit):
    /// a bound that holds out of the box, whatever the tenants. About 1.1–1.8 KiB each for a counter with an hour of buckets (docs/performance.md).
    /// </summary>
    public int MaxSeries { get; init; } = 1_000_000;

    /// <summary>The label that names a series' tenant.</summary>
    public string TenantAttribute { get; init; } = "tenant.id";

    public int MaxAttributesPerPoint { get; init; } = 128;

    public int MaxAttributeValueLength { get; init; } = 4096;

    /// <summary>Points with a longer attribute key (bytes) are refused; Mimir's max_label_name_length default.</summary>
    public int MaxAttributeKeyLength { get; init; } = 1024;

    /// <summary>Points of a metric whose name is longer (bytes) are refused.</summary>
    public int MaxMetricNameLength { get; init; } = 1024;

    /// <summary>Every problem, each with its config path, so start-up fails with all of them at once.</summary>
    public IReadOnlyList<string> Validate(string section = "storage")
    {
        var problems = new List<string>();
        if (Resolution < TimeSpan.FromSeconds(1) || Resolution.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            problems.Add($"{section}.resolution: must be a whole number of seconds, at least 1s (got {Resolution})");
        }

        if (Resolution > TimeSpan.FromHours(1))
        {
            problems.Add($"{section}.resolution: at most 1h (got {Resolution})");
        }

        if (Retention < Resolution || (Resolution.Ticks > 0 && Retention.Ticks % Resolution.Ticks != 0))
        {
            problems.Add($"{section}.retention: must be a multiple of the resolution and at least one bucket (got {Retention})");
        }

        if (Retention > TimeSpan.FromDays(7))
        {
            problems.Add($"{section}.retention: at most 7d is supported in memory (got {Retention}); use remote write for long-term storage");
        }

        if (FutureTolerance < TimeSpan.Zero || FutureTolerance > TimeSpan.FromDays(1))
        {
            problems.Add($"{section}.future_tolerance: must be from 0s to 1d (got {FutureTolerance})");
        }

        if (MaxSeriesPerMetric < 1)
        {
            problems.Add($"{section}.max_series_per_metric: must be at least 1");
        }

        if (MaxSeriesPerTenant < 0)
        {
            problems.Add($"{section}.max_series_per_tenant: must be 0 (no limit) or more");
        }

        if (MaxSeries < 0)
        {
            problems.Add($"{section}.max_series: must be 0 (no limit) or more");
        }

        if (string.IsNullOrWhiteSpace(TenantAttribute))
        {
            problems.Add($"{section}.tenant_attribute: must name a label, e.g. tenant.id");
        }

        if (MaxAttributesPerPoint < 1)
        {
            problems.Add($"{section}.max_attributes_per_point: must be at least 1");
        }

        if (MaxAttributeValueLength < 1)
        {
            problems.Add($"{section}.max_attribute_value_length: must be at least 1");
        }

        if (MaxAttributeKeyLength < 1)
        {
            problems.Add($"{section}.max_attribute_key_length: must be at least 1");
        }

        if (MaxMetricNameLength < 1)
        {
            problems.Add($"{section}.max_metric_name_length: must be at least 1");
        }

        return problems;
    }
}
