using Vigil.Storage.Checkpoint;

namespace Vigil.Storage.Compression;

/// <summary>
/// How one kind packs its per-bucket values: a stateful encoder/decoder over the buckets of a chunk,
/// oldest first (each value against the one before it), plus how a point lands in a bucket and how a
/// bucket is written to and read from a checkpoint (the unpacked layout, so checkpoints keep their format).
/// </summary>
internal interface IBucketCodec<T>
    where T : unmanaged
{
    /// <summary>The most bytes <see cref="Write"/> emits for one bucket.</summary>
    static abstract int MaxBytes { get; }

    /// <summary>Adds one point to a bucket (an empty bucket is <c>default</c>).</summary>
    static abstract void Apply(ref T bucket, double value, long time);

    static abstract void WriteCheckpoint(CheckpointWriter writer, in T bucket);

    static abstract T ReadCheckpoint(CheckpointReader reader);

    /// <summary>Sets the state a chunk starts from.</summary>
    void Reset();

    /// <summary>Encodes a bucket <paramref name="gap"/> numbers after the previous one (1 = the next).</summary>
    void Write(ref ByteWriter writer, int gap, in T value);

    void Read(ref ByteReader reader, out int gap, out T value);
}
