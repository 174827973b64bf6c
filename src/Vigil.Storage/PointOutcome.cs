namespace Vigil.Storage;

/// <summary>Refusal reasons. Constant strings: refusing a point allocates nothing.</summary>
public static class RefusalReasons
{
    public const string TooOld = "timestamp older than the retention";
    public const string TooNew = "timestamp too far in the future";
    public const string NoTimestamp = "time_unix_nano is 0";
    public const string KindConflict = "metric already exists with another type";
    public const string SeriesLimit = "series limit per metric reached (point kept in the overflow series otel.metric.overflow=true)";
    public const string TenantSeriesLimit = "series limit per tenant reached";
    public const string StoreSeriesLimit = "series limit of the store reached";
    public const string MemoryLimit = "memory limit: new series refused";
    public const string TooManyAttributes = "too many attributes on the point";
    public const string AttributeTooLong = "attribute value too long";
    public const string AttributeKeyTooLong = "attribute key too long";
    public const string MetricNameTooLong = "metric name too long";
    public const string NotFinite = "value is NaN or infinite";
    public const string NegativeCount = "negative histogram count or bucket";
    public const string BucketLayout = "exponential histogram scale, bucket indexes or count outside what the store takes";
    /// <summary>The point names another tenant than its resource or its ingest key (docs/security.md).</summary>
    public const string TenantMismatch = "tenant_mismatch";
}

/// <summary>The outcome of one convenience ingest call: null reason means accepted.</summary>
public readonly record struct PointOutcome(string? RefusalReason)
{
    public static PointOutcome Accepted => default;

    public bool IsAccepted => RefusalReason is null;
}
