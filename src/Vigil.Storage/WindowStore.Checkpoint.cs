using System.Buffers.Binary;
using Vigil.Storage.Checkpoint;

namespace Vigil.Storage;

public sealed partial class WindowStore
{
    // Bumped at every checkpoint's cut. While a checkpoint streams, a series whose epoch is below it
    // belongs to the image and is not written yet; one created after the cut gets the new epoch and is
    // left out (the WAL replay recreates it).
    private int _checkpointEpoch;
    private volatile CheckpointCut? _streaming;

    /// <summary>
    /// Cuts a checkpoint: captures the metric-level state and the series count and, from now until the
    /// cut is disposed, has every series that is about to change preserve its state first. It costs a
    /// pass over the lock stripes and the metrics, not the series. For a state that matches a WAL
    /// position exactly the caller keeps ingest out during this call (the durable ingest's barrier does);
    /// writing (<see cref="WriteCheckpoint(CheckpointCut, Stream)"/>) then runs beside ingest.
    /// </summary>
    /// <param name="walSegment">The first WAL segment whose records are not in this image.</param>
    /// <exception cref="InvalidOperationException">Another checkpoint is still being written.</exception>
    public CheckpointCut BeginCheckpoint(long walSegment = 0)
    {
        // All stripe locks: no series changes half-way across the cut, and a sweep in progress sees it.
        var entered = 0;
        try
        {
            for (; entered < StripeCount; entered++)
            {
                Monitor.Enter(_stripes[entered]);
            }

            if (_streaming is not null)
            {
                throw new InvalidOperationException("a checkpoint is already being written");
            }

            var series = 0;
            foreach (var stripe in _stripes)
            {
                series += stripe.Map.Count;
            }

            var metrics = _metrics.Values.OrderBy(m => m.Id).ToArray();
            var overflowPoints = new long[metrics.Length];
            for (var i = 0; i < metrics.Length; i++)
            {
                overflowPoints[i] = Interlocked.Read(ref metrics[i].OverflowPoints);
            }

            var cut = new CheckpointCut(
                this, ++_checkpointEpoch, walSegment, KnownSinceUnixNano, ToUnixNano(Now), Volatile.Read(ref _nextMetricId), metrics, overflowPoints, series, StripeCount);
            _streaming = cut;
            return cut;
        }
        finally
        {
            while (entered > 0)
            {
                Monitor.Exit(_stripes[--entered]);
            }
        }
    }

    /// <summary>
    /// Streams the checkpoint of <paramref name="cut"/> to <paramref name="stream"/> (see
    /// <see cref="CheckpointFormat"/>) while ingest goes on: each series is serialized under its stripe
    /// lock into a small chunk that is checksummed and written out, so the image is never whole in
    /// memory. A series changed since the cut contributes the state it preserved then. The header
    /// (length and CRC) is written last, so the stream must be seekable.
    /// </summary>
    /// <exception cref="InvalidOperationException">The cut belongs to another store or was written already.</exception>
    public CheckpointInfo WriteCheckpoint(CheckpointCut cut, Stream stream)
    {
        if (!ReferenceEquals(cut.Store, this) || !ReferenceEquals(_streaming, cut))
        {
            throw new InvalidOperationException("the checkpoint cut is not this store's current one");
        }

        if (!stream.CanSeek)
        {
            throw new ArgumentException("the checkpoint's header is written last: the stream must be seekable", nameof(stream));
        }

        var headerAt = stream.Position;
        stream.Write(new byte[CheckpointFormat.HeaderBytes]);

        // One chunk, reused: flushed into the stream (and the running CRC) whenever it passes 64 KiB.
        var chunk = new CheckpointWriter(ChunkBytes * 2);
        var crc = Crc32C.Seed;
        long length = 0;
        void Flush()
        {
            crc = Crc32C.Append(crc, chunk.Written);
            stream.Write(chunk.Written);
            length += chunk.Length;
            chunk.Reset();
        }

        chunk.WriteUInt64(cut.KnownSinceUnixNano);
        chunk.WriteInt64(cut.WalSegment);
        chunk.WriteInt64(_resolutionNanos);
        chunk.WriteUInt64(cut.AtUnixNano);

        // Sorted by id, so a metric is always written before a series that refers to it is read.
        chunk.WriteInt32(cut.NextMetricId);
        chunk.WriteInt32(cut.Metrics.Length);
        for (var i = 0; i < cut.Metrics.Length; i++)
        {
            var metric = cut.Metrics[i];
            chunk.WriteInt32(metric.Id);
            chunk.WriteString(metric.Name);
            chunk.WriteByte((byte)metric.Kind);
            chunk.WriteString(metric.Unit);
            chunk.WriteBool(metric.Monotonic);
            chunk.WriteInt64(cut.OverflowPoints[i]);
        }

        // Metric by metric in each metric's own order, which a load restores: queries then fold the
        // series in the same order and sum floating-point values to the same last bit.
        chunk.WriteInt32(cut.Series);
        var written = 0;
        foreach (var metric in cut.Metrics)
        {
            foreach (var item in metric.Snapshot())
            {
                lock (_stripes[item.Stripe])
                {
                    if (item.Removed)
                    {
                        continue; // swept before the cut: not counted in it
                    }

                    if (item.CheckpointEpoch < cut.Epoch)
                    {
                        WriteSeriesRecord(chunk, item);
                        item.CheckpointEpoch = cut.Epoch;
                    }
                    else if (cut.TakePreserved(item) is { } preserved)
                    {
                        chunk.WriteBytesRaw(preserved);
                    }
                    else
                    {
                        continue; // created after the cut
                    }
                }

                written++;
                if (chunk.Length >= ChunkBytes)
                {
                    Flush();
                }

                cut.AfterSeries?.Invoke(written);
            }
        }

        if (written != cut.Series)
        {
            throw new InvalidOperationException($"the checkpoint found {written} of the {cut.Series} series of its cut");
        }

        Flush();
        var end = stream.Position;
        var header = new byte[CheckpointFormat.HeaderBytes];
        CheckpointFormat.WriteHeader(header, Crc32C.Finish(crc), length);
        stream.Position = headerAt;
        stream.Write(header);
        stream.Position = end;
        return new CheckpointInfo(cut.WalSegment, cut.KnownSinceUnixNano, cut.Metrics.Length, written, CheckpointFormat.HeaderBytes + length);
    }

    /// <summary>
    /// Writes a checkpoint of this store to <paramref name="stream"/> (seekable). For a state that matches
    /// a WAL position exactly the caller keeps ingest out meanwhile; the durable ingest instead cuts
    /// (<see cref="BeginCheckpoint"/>) under its barrier and streams beside ingest.
    /// </summary>
    public CheckpointInfo WriteCheckpoint(Stream stream, long walSegment = 0)
    {
        using var cut = BeginCheckpoint(walSegment);
        return WriteCheckpoint(cut, stream);
    }

    private const int ChunkBytes = 64 * 1024;

    /// <summary>One series as the checkpoint stores it: metric id, key, overflow flag, then its state.</summary>
    internal static void WriteSeriesRecord(CheckpointWriter writer, Series series)
    {
        writer.WriteInt32(series.Metric.Id);
        writer.WriteBytes(series.Key);
        writer.WriteBool(series.IsOverflow);
        series.WriteCheckpoint(writer);
    }

    /// <summary>
    /// Called with the series' stripe lock held, before it changes: while a checkpoint streams, a series of
    /// its cut that is not written yet first saves the state the checkpoint must contain (copy-on-write).
    /// </summary>
    private void PreserveForCheckpoint(Series series)
    {
        // Outside a checkpoint every epoch equals the current one: one compare per point.
        if (series.CheckpointEpoch < _checkpointEpoch && _streaming is { } cut)
        {
            cut.Preserve(series);
        }
    }

    internal void EndCheckpoint(CheckpointCut cut)
    {
        if (ReferenceEquals(_streaming, cut))
        {
            _streaming = null;
        }
    }

    /// <summary>
    /// Restores a checkpoint into this store, which must be empty (a new store at start-up). The whole
    /// file is checked first (magic, version, length, CRC-32C), streamed through in chunks, then parsed in a
    /// second streamed pass; the store only becomes visible once every series parsed, so a damaged checkpoint
    /// throws <see cref="CheckpointCorruptException"/> and leaves the store empty; one written with another
    /// resolution throws <see cref="CheckpointMismatchException"/>. Memory beyond the restored series stays a
    /// chunk (decision 035). A stream that cannot seek is copied into memory first.
    /// </summary>
    public CheckpointInfo LoadCheckpoint(Stream stream)
    {
        if (!_metrics.IsEmpty)
        {
            throw new InvalidOperationException("a checkpoint can only be loaded into an empty store");
        }

        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }

        var start = stream.Position;
        var length = CheckpointFormat.Verify(stream);
        stream.Position = start + CheckpointFormat.HeaderBytes;
        var reader = new CheckpointReader(stream, length);
        try
        {
            return Restore(reader, CheckpointFormat.HeaderBytes + length);
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException)
        {
            // A key or value the checksum vouched for but this version cannot read.
            Unrestore();
            throw new CheckpointCorruptException($"corrupt checkpoint: {e.Message}", e);
        }
        catch
        {
            Unrestore();
            throw;
        }
    }

    /// <summary>Empties the stripe maps a failed restore filled: nothing else of the store changed yet.</summary>
    private void Unrestore()
    {
        foreach (var stripe in _stripes)
        {
            stripe.Map.Clear();
            stripe.Map.TrimExcess();
        }
    }

    private CheckpointInfo Restore(CheckpointReader reader, long length)
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
        var decoder = new RestoredLabels(_labelNames);
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
            var labels = overflow ? SeriesKeyBuilder.DecodeLabels(key) : decoder.Decode(key);
            var restored = Create(metric, key, labels, stripe, overflow);
            restored.ReadCheckpoint(reader);

            // The stripe maps stage the series (and find a key twice) while the metrics are not published yet:
            // lookups see nothing until the end, and a failure empties them again (Unrestore).
            if (!_stripes[stripe].Map.TryAdd(key, restored))
            {
                throw CheckpointReader.Corrupt("a series key appears twice");
            }

            series.Add(restored);
        }

        if (reader.Remaining != 0)
        {
            throw CheckpointReader.Corrupt($"{reader.Remaining} bytes after the last series");
        }

        // Everything parsed: only now do the metrics, limits and postings see the series.
        foreach (var item in series)
        {
            _stripes[item.Stripe].Touched = true;
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
