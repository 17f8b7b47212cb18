#!/usr/bin/perl
# A tiny MNIST-like IDX data set for the aimc-train tests: images of 8x8
# pixels, 4 classes, class c lighting quadrant c (values 160..223) over dim
# noise (0..63), from a fixed LCG so every run writes the same bytes.
# usage: tiny_idx.pl DIR N_TRAIN N_TEST
use strict;
use warnings;

sub idx {
  my ($path, $n, $img) = @_;
  open(my $f, ">:raw", $path) or die "$path: $!";
  my $seed = $n * 7 + $img;
  if ($img) { print $f pack("CCCC N N N", 0, 0, 8, 3, $n, 8, 8); }
  else { print $f pack("CCCC N", 0, 0, 8, 1, $n); }
  for my $i (0 .. $n - 1) {
    my $c = ($i * 5 + 3) % 4;
    if (!$img) { print $f pack("C", $c); next; }
    for my $r (0 .. 7) {
      for my $q (0 .. 7) {
        $seed = ($seed * 1103515245 + 12345) % 2147483648;
        my $in = (int($r / 4) * 2 + int($q / 4)) == $c;
        print $f pack("C", ($in ? 160 : 0) + ($seed >> 16) % 64);
      }
    }
  }
  close($f) or die "$path: $!";
}

my ($dir, $n_train, $n_test) = @ARGV;
die "usage: tiny_idx.pl DIR N_TRAIN N_TEST\n" unless defined $n_test;
idx("$dir/train-images-idx3-ubyte", $n_train, 1);
idx("$dir/train-labels-idx1-ubyte", $n_train, 0);
idx("$dir/t10k-images-idx3-ubyte", $n_test, 1);
idx("$dir/t10k-labels-idx1-ubyte", $n_test, 0);
