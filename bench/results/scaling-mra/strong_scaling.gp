set terminal pngcairo size 1200,480 noenhanced
set output 'bench/results/scaling-mra/strong_scaling.png'
set multiplot layout 1,2 title "mra: MRA-2 attention (8 blocks per row, block 32), 16 batch-heads, d 32, forward + backward\nAMD EPYC, kernels avx512"
set grid
set xlabel 'threads'
set xrange [1:2]
set xtics 1
set key top left
set ylabel 'speedup over 1 thread(s)'
plot x / 1.0 with lines dashtype 2 lc 'black' title 'ideal', 'bench/results/scaling-mra/scaling.dat' index 0 using 1:2 with linespoints title 'N = 1024', 'bench/results/scaling-mra/scaling.dat' index 1 using 1:2 with linespoints title 'N = 4096', 'bench/results/scaling-mra/scaling.dat' index 2 using 1:2 with linespoints title 'N = 16384'
set ylabel 'parallel efficiency'
set yrange [0:1.1]
set key bottom left
plot 1 with lines dashtype 2 lc 'black' title 'ideal', 'bench/results/scaling-mra/scaling.dat' index 0 using 1:3 with linespoints title 'N = 1024', 'bench/results/scaling-mra/scaling.dat' index 1 using 1:3 with linespoints title 'N = 4096', 'bench/results/scaling-mra/scaling.dat' index 2 using 1:3 with linespoints title 'N = 16384'
unset multiplot
