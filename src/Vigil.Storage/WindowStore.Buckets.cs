using Vigil.Storage.Query;

namespace Vigil.Storage;

public sealed partial class WindowStore
{
    /// <summary>The start of the bucket that holds <paramref name="time"/>.</summary>
    public DateTimeOffset BucketStartOf(DateTimeOffset time) => BucketStart(BucketOf(time));

    /// <summary>The start of the oldest bucket the retention still keeps.</summary>
    public DateTimeOffset OldestBucketStart => BucketStart(BucketOf(Now) - RetentionBuckets + 1);

    /// <summary>
    /// Hands every series with data in the bucket starting at <paramref name="bucketStart"/> to the visitor, one series
    /// at a time under its stripe lock: what remote write sends of one bucket.
    /// </summary>
    public void ReadBucket(DateTimeOffset bucketStart, IBucketVisitor visitor)
    {
        var bucket = BucketOf(bucketStart);
        foreach (var metric in _metrics.Values)
        {
            foreach (var series in metric.Snapshot())
            {
                lock (_stripes[series.Stripe])
                {
                    if (!series.Removed && series.TryRead(bucket, out var view))
                    {
                        visitor.Visit(metric.Name, metric.Unit, series.Labels, view);
                    }
                }
            }
        }
    }
}
