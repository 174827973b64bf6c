using BenchmarkDotNet.Attributes;
using K4os.Compression.LZ4;
using Vigil.Perf;
using Vigil.Storage.Wal;

namespace Vigil.Benchmarks;

/// <summary>
/// The compact WAL's extra CPU (decision 030): packing one group commit of fleet-model requests into a
/// Zstandard block (what the writer does per batch), unpacking it (what replay does), and LZ4 on the same
/// bytes for comparison. Results are per point; allocations are per batch (the writer's buffers are reused).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 5)]
public class WalBlockBenchmarks
{
    private const ulong Second = 1_000_000_000UL;
    private const int BatchRequests = 8;
    private const int PointsPerBatch = BatchRequests * 465;

    private readonly WalBlockWriter _writer = new();
    private readonly WalBlockReader _reader = new();
    private byte[][] _batch = null!;
    private byte[] _block = null!;
    private byte[] _lz4Source = null!;
    private byte[] _lz4Target = null!;

    [GlobalSetup]
    public void Setup()
    {
        // A warm model: 100 rounds in, so every counter and histogram has grown to realistic values.
        var fleet = new FleetRequestFactory(Workload.NowUnixNano - (3600 * Second));
        for (var i = 0; i < 100; i++)
        {
            fleet.Next(Workload.NowUnixNano + ((ulong)i * Second));
        }

        var requests = Enumerable.Range(0, BatchRequests).Select(i => fleet.Next(Workload.NowUnixNano + (200 * Second))).ToList();
        if (requests.Sum(r => r.Points) != PointsPerBatch)
        {
            throw new InvalidOperationException($"the fleet model changed: {requests.Sum(r => r.Points)} points a batch, not {PointsPerBatch}");
        }

        _batch = [.. requests.Select(r => r.Bytes)];

        foreach (var request in _batch)
        {
            _writer.Add(default, request);
        }

        if (!_writer.TrySeal(0, out var frame))
        {
            throw new InvalidOperationException("the fleet batch did not compress");
        }

        _block = frame[WalFormat.RecordHeaderBytes..].ToArray();
        _writer.Clear();
        _lz4Source = [.. _batch.SelectMany(r => r)];
        _lz4Target = new byte[LZ4Codec.MaximumOutputSize(_lz4Source.Length)];
        Console.WriteLine($"// batch: {_lz4Source.Length} bytes raw, Zstandard block {_block.Length} bytes = {(double)_block.Length / PointsPerBatch:F1} B/point, LZ4 {LZ4Codec.Encode(_lz4Source, _lz4Target, LZ4Level.L00_FAST) / (double)PointsPerBatch:F1} B/point");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _reader.Dispose();
    }

    /// <summary>What the writer adds per group commit: copy the records in, compress, frame and checksum.</summary>
    [Benchmark(OperationsPerInvoke = PointsPerBatch, Description = "WAL block: pack 8 fleet requests, Zstandard level 1 (per point)")]
    public int Pack()
    {
        foreach (var request in _batch)
        {
            _writer.Add(default, request);
        }

        _writer.TrySeal(0, out var frame);
        var length = frame.Length;
        _writer.Clear();
        return length;
    }

    /// <summary>What replay adds per block, before applying its records.</summary>
    [Benchmark(OperationsPerInvoke = PointsPerBatch, Description = "WAL block: unpack it on replay (per point)")]
    public int Unpack() => _reader.TryUnpack(_block, out var records) is null ? records.Length : -1;

    [Benchmark(OperationsPerInvoke = PointsPerBatch, Description = "LZ4 fast, same batch, for comparison (per point)")]
    public int Lz4() => LZ4Codec.Encode(_lz4Source, _lz4Target, LZ4Level.L00_FAST);
}
