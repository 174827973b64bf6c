using System.Buffers.Binary;
using Vigil.Storage.Checkpoint;

namespace Vigil.Storage;

public sealed partial class WindowStore
{
    /// <summary>
    /// Serializes the whole store (see <see cref="CheckpointFormat"/>): the metrics with their ids, every
    /// series with its buckets and its cumulative and retry state, and <see cref="KnownSinceUnixNano"/>.
    /// Each series is read under its stripe lock; for a state that matches a WAL position exactly the
    /// caller must keep ingest out meanwhile (the collector's ingest barrier does).
    /// </summary>
    /// <param name="walSegment">The first WAL segment whose records are not in this image.</param>
    public CheckpointImage CaptureCheckpoint(long walSegment = 0)
    {
        var writer = new CheckpointWriter((int)Math.Min(Array.MaxLength, Math.Max(64 * 1024, SeriesCount * 256L)));
        var header = new byte[CheckpointFormat.HeaderBytes];
        writer.WriteBytesRaw(header); // filled in below, once the payload's length and CRC are known

        var payloadStart = writer.Length;
        writer.WriteUInt64(KnownSinceUnixNano);
        writer.WriteInt64(walSegment);
        writer.WriteInt64(_resolutionNanos);
        writer.WriteUInt64(ToUnixNano(Now));

        // Sorted by id, so a metric is always written before a series that refers to it is read.
        var metrics = _metrics.Values.OrderBy(m => m.Id).ToArray();
        writer.WriteInt32(Volatile.Read(ref _nextMetricId));
        writer.WriteInt32(metrics.Length);
        foreach (var metric in metrics)
        {
            writer.WriteInt32(metric.Id);
            writer.WriteString(metric.Name);
            writer.WriteByte((byte)metric.Kind);
            writer.WriteString(metric.Unit);
            writer.WriteBool(metric.Monotonic);
            writer.WriteInt64(Interlocked.Read(ref metric.OverflowPoints));
        }

        // Metric by metric in each metric's own order, which a load restores: queries then fold the
        // series in the same order and sum floating-point values to the same last bit.
        var countAt = writer.ReserveInt32();
        var series = 0;
        foreach (var metric in metrics)
        {
            foreach (var item in metric.Snapshot())
            {
                lock (_stripes[item.Stripe])
                {
                    if (item.Removed)
                    {
                        continue; // swept meanwhile
                    }

                    writer.WriteInt32(item.Metric.Id);
                    writer.WriteBytes(item.Key);
                    writer.WriteBool(item.IsOverflow);
                    item.WriteCheckpoint(writer);
                    series++;
                }
            }
        }

        writer.PatchInt32(countAt, series);
        var payloadLength = writer.Length - payloadStart;
        CheckpointFormat.WriteHeader(writer.Buffer.AsSpan(0, CheckpointFormat.HeaderBytes), writer.Written[payloadStart..]);
        return new CheckpointImage(
            writer.Buffer.AsMemory(0, writer.Length),
            new CheckpointInfo(walSegment, KnownSinceUnixNano, metrics.Length, series, writer.Length));
    }

    /// <summary>Writes a checkpoint of this store to <paramref name="stream"/>.</summary>
    public CheckpointInfo WriteCheckpoint(Stream stream, long walSegment = 0)
    {
        var image = CaptureCheckpoint(walSegment);
        stream.Write(image.Bytes.Span);
        return image.Info;
    }

    /// <summary>
    /// Restores a checkpoint into this store, which must be empty (a new store at start-up). The whole
    /// file is checked (magic, version, length, CRC-32C) and parsed before the store changes, so a
    /// damaged checkpoint throws <see cref="CheckpointCorruptException"/> and leaves the store empty;
    /// one written with another resolution throws <see cref="CheckpointMismatchException"/>.
    /// </summary>
    public CheckpointInfo LoadCheckpoint(Stream stream)
    {
        if (!_metrics.IsEmpty)
        {
            throw new InvalidOperationException("a checkpoint can only be loaded into an empty store");
        }

        var (buffer, payloadStart, payloadEnd) = CheckpointFormat.ReadVerified(stream);
        var reader = new CheckpointReader(buffer, payloadStart, payloadEnd);
        try
        {
            return Restore(reader, payloadEnd);
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException)
        {
            // A key or value the checksum vouched for but this version cannot read.
            throw new CheckpointCorruptException($"corrupt checkpoint: {e.Message}", e);
        }
    }

    private CheckpointInfo Restore(CheckpointReader reader, int length)
    {
        var knownSince = reader.ReadUInt64();
        var walSegment = reader.ReadInt64();
        var resolution = reader.ReadInt64();
        reader.ReadUInt64(); // written at: for people reading the file, not needed to restore
        if (resolution != _resolutionNanos)
        {
            throw new CheckpointMismatchException(
                $"the checkpoint's buckets are {TimeSpan.FromTicks(resolution / 100)} wide, this store's are {Options.Resolution}; storage.resolution changed since it was written");
        }

        var nextMetricId = reader.ReadInt32();
        var metrics = new Dictionary<int, MetricState>();
        var metricCount = reader.ReadCount(4);
        for (var i = 0; i < metricCount; i++)
        {
            var id = reader.ReadInt32();
            var name = reader.ReadString();
            var kind = (MetricKind)reader.ReadByte();
            if (!Enum.IsDefined(kind) || id <= 0 || id > nextMetricId)
            {
                throw CheckpointReader.Corrupt($"metric {name}: kind {(int)kind}, id {id}");
            }

            var metric = new MetricState(id, name, kind, reader.ReadString(), reader.ReadBool()) { OverflowPoints = reader.ReadInt64() };
            if (!metrics.TryAdd(id, metric))
            {
                throw CheckpointReader.Corrupt($"metric id {id} appears twice");
            }
        }

        if (metrics.Values.DistinctBy(m => m.Name, StringComparer.Ordinal).Count() != metrics.Count)
        {
            throw CheckpointReader.Corrupt("a metric name appears twice");
        }

        var series = new List<Series>(reader.ReadCount(8));
        var keys = new HashSet<byte[]>(SeriesKeyComparer.Instance);
        for (var i = series.Capacity; i > 0; i--)
        {
            var metricId = reader.ReadInt32();
            var key = reader.ReadBytes();
            var overflow = reader.ReadBool();
            if (!metrics.TryGetValue(metricId, out var metric) || key.Length < 4 || BinaryPrimitives.ReadInt32LittleEndian(key) != metricId)
            {
                throw CheckpointReader.Corrupt($"a series of unknown metric {metricId} or with a key of another metric");
            }

            var stripe = (int)((uint)SeriesKeyComparer.Hash(key) % StripeCount);
            var labels = overflow ? SeriesKeyBuilder.DecodeLabels(key) : SeriesKeyBuilder.DecodeLabels(key, _labelNames);
            var restored = Create(metric, key, labels, stripe, overflow);
            restored.ReadCheckpoint(reader);
            if (!keys.Add(key))
            {
                throw CheckpointReader.Corrupt("a series key appears twice");
            }

            series.Add(restored);
        }

        if (reader.Remaining != 0)
        {
            throw CheckpointReader.Corrupt($"{reader.Remaining} bytes after the last series");
        }

        // Everything parsed: only now does the store change.
        foreach (var item in series)
        {
            _stripes[item.Stripe].Map.Add(item.Key, item);
            item.Metric.AddRestored(item);

            // Restored series count against the limits but are never refused.
            var tenant = CountedTenant(item, out var counted);
            if (counted)
            {
                _accounting.AddRestored(tenant);
            }
        }

        foreach (var metric in metrics.Values)
        {
            _metrics[metric.Name] = metric;
        }

        _nextMetricId = nextMetricId;
        KnownSinceUnixNano = knownSince;
        return new CheckpointInfo(walSegment, knownSince, metrics.Count, series.Count, length);
    }
}
